"""Fixtures for the web layer: an initialised app on a fresh database, clients and users."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from web import accounts, create_app
from web.config import Settings, load_settings
from web.keys import ensure_keys
from web.runtime import runtime

CSRF_PATTERN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'type="hidden" name="csrf_token" value="([^"]+)"'
)


def make_settings(var_dir: Path, database_url: str, **overrides: Any) -> Settings:
    ensure_keys(var_dir / "secrets.json")
    return load_settings(
        {}, overrides={"var_dir": str(var_dir), "database_url": database_url, **overrides}
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "var", database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    runtime(application).database.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., tuple[str, str]]:
    """Create a user; returns (username, password)."""

    def create(
        username: str, role: str, password: str = "correct horse battery"
    ) -> tuple[str, str]:
        with runtime(app).database.session() as session:
            accounts.create_user(session, username, role, password)
        return username, password

    return create


@pytest.fixture
def make_token(app: Flask, make_user: Callable[..., tuple[str, str]]) -> Callable[[str], str]:
    """A bearer token for a new user with ``role``."""
    counter = iter(range(1000))

    def create(role: str) -> str:
        username, _ = make_user(f"{role}{next(counter)}", role)
        with runtime(app).database.session() as session:
            _, bearer = accounts.create_token(session, accounts.get_user(session, username), "t")
        return bearer

    return create


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, username: str, password: str, *, environ: dict | None = None) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=environ or {},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
