"""Registered senders: audits over the API, the CLI and the daily job, against a real DNS server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.auditor.sender_zone import good_sender
from tests.support.dns_server import FixtureDnsServer
from web import create_app
from web.cli import cli
from web.jobs import bind_runtime, run_job
from web.runtime import runtime

from .conftest import bearer, make_settings

DOMAIN = "shop.example"
IPS = ["192.0.2.10"]
SELECTORS = ["s1"]
HELO = f"mail.{DOMAIN}"


@pytest.fixture(scope="module")
def dns_server() -> Iterator[FixtureDnsServer]:
    with FixtureDnsServer() as server:
        yield server


@pytest.fixture
def zone(dns_server: FixtureDnsServer) -> Iterator[FixtureDnsServer]:
    dns_server.clear()
    dns_server.add_records(good_sender(DOMAIN, tuple(IPS), tuple(SELECTORS)))
    dns_server.never_answer("slow.example")
    yield dns_server
    dns_server.clear()


@pytest.fixture
def dns_app(tmp_path: Path, database_url: str, zone: FixtureDnsServer) -> Iterator[Flask]:
    settings = make_settings(
        tmp_path / "var",
        database_url,
        nameservers=(zone.nameserver,),
        dns_timeout=0.2,
        dnsbl_zones=("zen.spamhaus.org",),
    )
    app = create_app(settings)
    yield app
    runtime(app).database.dispose()


def _register(client: FlaskClient, auth: dict[str, str], domain: str = DOMAIN) -> dict:
    response = client.post(
        "/api/v1/senders",
        headers=auth,
        json={"domain": domain, "ips": IPS, "dkim_selectors": SELECTORS, "helo": f"mail.{domain}"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_register_audit_and_drift_over_the_api(
    dns_app: Flask, zone: FixtureDnsServer, make_token_for
) -> None:
    client = dns_app.test_client()
    auth = bearer(make_token_for(dns_app, "marketer"))
    sender = _register(client, auth)
    assert client.post("/api/v1/senders", headers=auth, json={"domain": DOMAIN}).status_code == 409

    first = client.post(f"/api/v1/senders/{sender['id']}/audits", headers=auth)
    assert first.status_code == 201
    body = first.get_json()
    assert body["verdict"] == "pass", body["result"]["findings"]
    assert body["result"]["spf"]["ip_results"] == {IPS[0]: "pass"}
    assert body["drift"] is None

    # DMARC record removed between two audits: the drift names it.
    zone.clear()
    records = good_sender(DOMAIN, tuple(IPS), tuple(SELECTORS))
    del records[f"_dmarc.{DOMAIN}"]
    zone.add_records(records)
    runtime(dns_app).__dict__.pop("dns_resolver", None)  # a fresh resolver: no cached answers
    second = client.post(f"/api/v1/senders/{DOMAIN}/audits", headers=auth).get_json()
    assert second["verdict"] == "block"
    assert "DMARC_MISSING" in {item["code"] for item in second["drift"]["appeared"]}

    history = client.get(f"/api/v1/senders/{sender['id']}/audits", headers=auth).get_json()
    assert [a["verdict"] for a in history] == ["block", "pass"]
    stored = client.get(f"/api/v1/senders/{DOMAIN}/audits/{history[1]['id']}", headers=auth)
    assert stored.get_json()["result"]["domain"] == DOMAIN
    listed = client.get("/api/v1/senders", headers=auth).get_json()
    assert listed[0]["latest_verdict"] == "block"


def test_bad_sender_input_names_the_problem(dns_app: Flask, make_token_for) -> None:
    client = dns_app.test_client()
    auth = bearer(make_token_for(dns_app, "admin"))
    bad_ip = client.post(
        "/api/v1/senders", headers=auth, json={"domain": DOMAIN, "ips": ["300.1.1.1"]}
    )
    assert bad_ip.status_code == 422
    assert "300.1.1.1" in bad_ip.get_json()["detail"]
    bad_profile = client.post(
        "/api/v1/senders", headers=auth, json={"domain": DOMAIN, "profile": "lenient"}
    )
    assert bad_profile.get_json()["errors"][0]["field"] == "profile"
    assert client.get("/api/v1/senders/unknown.example", headers=auth).status_code == 404


def test_dns_timeout_blocks_instead_of_passing(dns_app: Flask, make_token_for) -> None:
    client = dns_app.test_client()
    auth = bearer(make_token_for(dns_app, "marketer"))
    client.post("/api/v1/senders", headers=auth, json={"domain": "slow.example"})
    audit = client.post("/api/v1/senders/slow.example/audits", headers=auth).get_json()
    assert audit["verdict"] == "block"
    assert "DNS_UNAVAILABLE" in {f["code"] for f in audit["result"]["findings"]}


def test_daily_reaudit_job_records_drift(
    dns_app: Flask, zone: FixtureDnsServer, make_token_for
) -> None:
    client = dns_app.test_client()
    auth = bearer(make_token_for(dns_app, "marketer"))
    _register(client, auth)
    rt = runtime(dns_app)
    bind_runtime(rt)
    assert run_job("senders.reaudit") == "1 sender(s) audited, 0 with drift"
    zone.answer_servfail(f"_dmarc.{DOMAIN}")
    rt.__dict__.pop("dns_resolver", None)  # a fresh resolver: no cached DMARC answer
    assert run_job("senders.reaudit") == "1 sender(s) audited, 1 with drift"


def test_cli_audit_sender_json_and_exit_codes(zone: FixtureDnsServer, tmp_path: Path) -> None:
    env = {
        "SENDGATE_VAR_DIR": str(tmp_path),
        "SENDGATE_DNS_TIMEOUT": "0.2",
        "SENDGATE_DNSBL_ZONES": "zen.spamhaus.org",
    }
    args = [
        "audit",
        "sender",
        DOMAIN,
        "--ip",
        IPS[0],
        "--dkim-selector",
        SELECTORS[0],
        "--helo",
        HELO,
        "--nameserver",
        zone.nameserver,
    ]
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"domain", "verdict", "findings", "spf", "dkim", "dmarc", "ips"}
    assert data["verdict"] == "pass"
    assert data["dkim"]["s1"]["key_bits"] == 2048
    text = CliRunner().invoke(cli, args, env=env)
    assert DOMAIN in text.output and "PASS" in text.output

    blocked = CliRunner().invoke(
        cli, ["audit", "sender", "slow.example", "--nameserver", zone.nameserver], env=env
    )
    assert blocked.exit_code == 1
    never = CliRunner().invoke(
        cli,
        ["audit", "sender", "slow.example", "--nameserver", zone.nameserver, "--fail-on", "never"],
        env=env,
    )
    assert never.exit_code == 0
    usage = CliRunner().invoke(cli, ["audit", "sender", DOMAIN, "--ip", "not-an-ip"], env=env)
    assert usage.exit_code == 2
    assert "not-an-ip" in usage.output


def test_cli_spf_check_host(zone: FixtureDnsServer, tmp_path: Path) -> None:
    env = {"SENDGATE_VAR_DIR": str(tmp_path)}
    ok = CliRunner().invoke(
        cli,
        ["spf", "check-host", IPS[0], f"news@{DOMAIN}", "--nameserver", zone.nameserver, "--json"],
        env=env,
    )
    assert ok.exit_code == 0
    assert json.loads(ok.output)["result"] == "pass"
    denied = CliRunner().invoke(
        cli,
        ["spf", "check-host", "203.0.113.9", f"news@{DOMAIN}", "--nameserver", zone.nameserver],
        env=env,
    )
    assert denied.exit_code == 1
    assert denied.output.startswith("fail")


def test_cli_senders_add_list_audit(
    zone: FixtureDnsServer, tmp_path: Path, database_url: str
) -> None:
    env = {
        "SENDGATE_VAR_DIR": str(tmp_path / "var"),
        "SENDGATE_DATABASE_URL": database_url,
        "SENDGATE_NAMESERVERS": zone.nameserver,
        "SENDGATE_DNS_TIMEOUT": "0.2",
        "SENDGATE_DNSBL_ZONES": "zen.spamhaus.org",
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    added = runner.invoke(
        cli,
        ["senders", "add", DOMAIN, "--ip", IPS[0], "--dkim-selector", SELECTORS[0], "--helo", HELO],
        env=env,
    )
    assert added.exit_code == 0, added.output
    audited = runner.invoke(cli, ["senders", "audit", DOMAIN, "--json"], env=env)
    assert audited.exit_code == 0, audited.output
    assert json.loads(audited.output)["verdict"] == "pass"
    listing = runner.invoke(cli, ["senders", "list"], env=env)
    assert DOMAIN in listing.output and "pass" in listing.output


@pytest.fixture
def make_token_for():
    from web import accounts

    counter = iter(range(100))

    def create(app: Flask, role: str) -> str:
        with runtime(app).database.session() as session:
            user, _ = accounts.create_user(
                session, f"{role}{next(counter)}", role, "correct horse battery"
            )
            _, value = accounts.create_token(session, user, "t")
        return value

    return create


def test_senders_pages(dns_app: Flask, zone: FixtureDnsServer) -> None:
    from web import accounts

    from .conftest import csrf_token, login

    with runtime(dns_app).database.session() as session:
        accounts.create_user(session, "mara", "marketer", "correct horse battery")
    client = dns_app.test_client()
    login(client, "mara", "correct horse battery")
    token = csrf_token(client, "/senders")
    created = client.post(
        "/senders",
        data={
            "csrf_token": token,
            "domain": DOMAIN,
            "ips": IPS[0],
            "dkim_selectors": "s1",
            "helo": HELO,
            "from_domain": "",
            "profile": "bulk-sender-2024",
        },
    )
    assert created.status_code == 302
    detail = created.headers["Location"]
    token = csrf_token(client, detail)
    report = client.post(f"{detail}/audits", data={"csrf_token": token})
    page = client.get(report.headers["Location"]).get_data(as_text=True)
    assert "verdict pass" in page and "v=spf1" in page
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "1 registered" in dashboard
