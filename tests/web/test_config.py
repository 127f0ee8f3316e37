"""Configuration: defaults, TOML, environment, and one clear line for every bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from web.config import ConfigError, load_settings


def test_defaults_use_the_embedded_database(tmp_path: Path) -> None:
    settings = load_settings({}, overrides={"var_dir": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'sendgate.db'}"
    assert settings.upstream == f"maildir:{tmp_path / 'outbox'}"
    assert settings.is_embedded


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SENDGATE_PROT": "8000"}, "SENDGATE_PROT: unknown setting (did you mean SENDGATE_PORT?)"),
        ({"SENDGATE_PORT": "eighty"}, "SENDGATE_PORT: expected int, got 'eighty'"),
        ({"SENDGATE_PORT": "0"}, "SENDGATE_PORT: must be positive"),
        ({"SENDGATE_DATABASE_URL": "mysql://h/db"}, "SENDGATE_DATABASE_URL: unsupported"),
        ({"SENDGATE_DATABASE_URL": "not a url"}, "SENDGATE_DATABASE_URL: cannot parse"),
        ({"SENDGATE_UPSTREAM": "http://mail"}, "SENDGATE_UPSTREAM: expected smtp://"),
        ({"SENDGATE_UPSTREAM": "smtp://mail:abc"}, "SENDGATE_UPSTREAM: the port is not a number"),
        ({"SENDGATE_BASE_URL": "gate.example.com"}, "SENDGATE_BASE_URL: expected an http(s) URL"),
        ({"SENDGATE_SECURE_COOKIES": "maybe"}, "SENDGATE_SECURE_COOKIES: expected bool"),
        ({"SENDGATE_NAMESERVERS": "127.0.0.1:x"}, "SENDGATE_NAMESERVERS: '127.0.0.1:x' is not"),
        ({"SENDGATE_LOG_LEVEL": "loud"}, "SENDGATE_LOG_LEVEL: unknown level"),
    ],
)
def test_bad_settings_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_toml_file_and_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "sendgate.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nnameservers = ["127.0.0.1:5353"]\n')
    settings = load_settings({"SENDGATE_CONFIG": str(config), "SENDGATE_PORT": "9100"})
    assert settings.port == 9100  # environment wins over the file
    assert settings.host == "0.0.0.0"
    assert settings.nameservers == ("127.0.0.1:5353",)


def test_toml_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "sendgate.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(
        ConfigError, match=r"sendgate.toml: prot: unknown setting \(did you mean port\?\)"
    ):
        load_settings({"SENDGATE_CONFIG": str(config)})


def test_missing_and_malformed_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"SENDGATE_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings({"SENDGATE_CONFIG": str(broken)})


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings(
        {
            "SENDGATE_DATABASE_URL": "postgresql://u:topsecret@db/sendgate",
            "SENDGATE_UPSTREAM_PASSWORD": "hunter2hunter2",
        }
    )
    assert "topsecret" not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_test_suite_variables_are_not_settings() -> None:
    load_settings({"SENDGATE_TEST_DATABASE_URL": "x", "SENDGATE_REQUIRE_POSTGRES": "1"})
