"""The consent ledger through the API, the public pages, the CLI and the scheduler."""

from __future__ import annotations

import io
import json
import mailbox
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from web.cli import cli
from web.jobs import bind_runtime, run_job
from web.runtime import runtime

from .conftest import bearer

PURPOSE = "marketing-email"
TEXT = "Yes, send me the Shop newsletter about offers, about twice a month. Unsubscribe any time."


def add_text(client: FlaskClient, auth: dict[str, str], language: str = "en") -> dict:
    response = client.post(
        "/api/v1/consent/texts",
        headers=auth,
        json={"purpose": PURPOSE, "version": "2026-11", "language": language, "body": TEXT},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_events_lookup_proof_and_erasure(client: FlaskClient, make_token, tmp_path: Path) -> None:
    officer = bearer(make_token("compliance"))
    marketer = bearer(make_token("marketer"))
    text = add_text(client, officer)
    event = {
        "email": "Ana.Lima@Example.org",
        "purpose": PURPOSE,
        "action": "granted",
        "method": "form",
        "occurred_at": "2026-11-01T10:00:00+00:00",
        "evidence": {
            "text_id": text["id"],
            "form_url": "https://shop.example/join",
            "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0",
            "source": "shop",
        },
    }
    recorded = client.post("/api/v1/consent/events", headers=marketer, json=event)
    assert recorded.status_code == 201
    assert recorded.get_json()["seq"] == 0 and len(recorded.get_json()["leaf_hash"]) == 64

    bad_batch = client.post(
        "/api/v1/consent/events/batch",
        headers=marketer,
        json={
            "events": [{**event, "email": "ben@example.org"}, {**event, "email": "not-an-address"}]
        },
    )
    assert bad_batch.status_code == 422
    assert bad_batch.get_json()["errors"][0]["field"] == "events[1].email"
    assert (
        client.get("/api/v1/consent/subjects/ben@example.org", headers=officer).status_code == 404
    )  # nothing of the batch was stored

    assert (
        client.get("/api/v1/consent/subjects/ana.lima@example.org", headers=marketer).status_code
        == 403
    )
    timeline = client.get("/api/v1/consent/subjects/ana.lima@example.org", headers=officer)
    body = timeline.get_json()
    assert body["states"][0]["purpose"] == PURPOSE and body["states"][0]["valid"] is True

    proof = client.get("/api/v1/consent/subjects/ana.lima@example.org/proof", headers=officer)
    assert proof.status_code == 200
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof.get_json()))
    verified = subprocess.run(
        [sys.executable, "-m", "consent.verify", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    no_reason = client.post(
        "/api/v1/consent/subjects/ana.lima@example.org/erasure", headers=officer, json={}
    )
    assert no_reason.status_code == 422
    erased = client.post(
        "/api/v1/consent/subjects/ana.lima@example.org/erasure",
        headers=officer,
        json={"reason": "DSR-2026-0042 by email"},
    )
    assert erased.status_code == 200
    again = client.post(
        "/api/v1/consent/subjects/ana.lima@example.org/erasure",
        headers=officer,
        json={"reason": "DSR-2026-0042 by email"},
    )
    assert again.status_code == 409
    reimport = client.post(
        "/api/v1/consent/imports",
        headers=marketer,
        data={
            "purpose": PURPOSE,
            "file": (io.BytesIO(b"email\nana.lima@example.org\n"), "l.csv"),
            "wait": "30",
        },
        content_type="multipart/form-data",
    )
    assert reimport.status_code == 200
    assert reimport.get_json()["accepted"] == 0
    assert "suppressed" in reimport.get_json()["rejected"][0]["reason"]
    verification = client.post("/api/v1/consent/ledger/verification", headers=officer)
    assert verification.get_json()["ok"] is True
    log = client.get("/api/v1/audit-log", headers=officer).get_json()
    assert any(
        e["action"] == "consent.erase" and e["reason"] == "DSR-2026-0042 by email" for e in log
    )


def test_import_reports_rejected_lines(client: FlaskClient, make_token) -> None:
    auth = bearer(make_token("marketer"))
    csv = (
        b"email,consented_at,source,country\n"
        b"a@example.org,2026-01-05T10:00:00Z,webshop,DE\n"
        b"broken-address,2026-01-05T10:00:00Z,webshop,DE\n"
        b"c@example.org,,,\n"
    )
    response = client.post(
        "/api/v1/consent/imports",
        headers=auth,
        data={"purpose": PURPOSE, "file": (io.BytesIO(csv), "list.csv"), "wait": "30"},
        content_type="multipart/form-data",
    )
    body = response.get_json()
    assert response.status_code == 200, body  # finished within `wait`
    assert body["status"] == "done" and body["progress"] == {"lines": 3, "lines_read": 3}
    assert body["accepted"] == 2
    assert body["without_evidence"] == 1
    assert [r["line"] for r in body["rejected"]] == [3] and body["rejected_count"] == 1
    assert response.headers["Location"].endswith(f"/api/v1/consent/imports/{body['id']}")
    again = client.get(response.headers["Location"], headers=auth).get_json()
    assert again["accepted"] == 2 and again["rejected"] == body["rejected"]
    page = client.get(f"/api/v1/consent/imports/{body['id']}/rejections?limit=5", headers=auth)
    assert page.get_json() == body["rejected"]
    listed = client.get("/api/v1/consent/imports", headers=auth).get_json()
    assert [job["id"] for job in listed] == [body["id"]]
    assert client.get("/api/v1/consent/imports/" + "0" * 32, headers=auth).status_code == 404
    headerless = client.post(
        "/api/v1/consent/imports",
        headers=auth,
        data={"purpose": PURPOSE, "file": (io.BytesIO(b"x\n1\n"), "l.csv")},
        content_type="multipart/form-data",
    )
    assert headerless.status_code == 422
    assert headerless.get_json()["errors"][0]["field"] == "file"


def test_import_answers_at_once_and_runs_in_the_background(
    app: Flask, client: FlaskClient, make_token, monkeypatch
) -> None:
    import web.imports
    from consent.sealed_file import EncryptedSpool

    spools: list[EncryptedSpool] = []

    class RecordingSpool(EncryptedSpool):
        def __init__(self, directory: Path) -> None:
            super().__init__(directory)
            spools.append(self)

    monkeypatch.setattr(web.imports, "EncryptedSpool", RecordingSpool)
    auth = bearer(make_token("marketer"))
    rows = "".join(f"r{i}@example.org,2026-01-05,fair\n" for i in range(3000))
    response = client.post(
        "/api/v1/consent/imports",
        headers=auth,
        data={
            "purpose": PURPOSE,
            "file": (io.BytesIO(("email,consented_at,source\n" + rows).encode()), "l.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    assert len(spools) == 1  # the upload went through the encrypted spool
    assert response.get_json()["status"] in ("queued", "running", "done")
    location = response.headers["Location"]
    deadline = time.monotonic() + 60
    while (body := client.get(location, headers=auth).get_json())["status"] != "done":
        assert body["status"] in ("queued", "running") and time.monotonic() < deadline
        time.sleep(0.1)
    assert (body["accepted"], body["rejected_count"]) == (3000, 0)
    _join_import_threads()
    # The upload was spooled encrypted, and the sealed copy is gone once imported.
    assert list((runtime(app).settings.var_dir / "imports").iterdir()) == []


def test_import_uploads_over_the_limit_are_refused(
    tmp_path: Path, database_url: str, make_token
) -> None:
    from web.app import create_app

    from .conftest import make_settings

    small = create_app(make_settings(tmp_path / "small", database_url, import_max_mb=1))
    auth = bearer(make_token("marketer"))
    body = b"email\n" + b"x@example.org\n" * 80_000  # over 1 MiB
    response = small.test_client().post(
        "/api/v1/consent/imports",
        headers=auth,
        data={"purpose": PURPOSE, "file": (io.BytesIO(body), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    runtime(small).database.dispose()


def _join_import_threads(timeout: float = 30) -> None:
    """Let background imports finish their last steps before the database goes away."""
    for thread in threading.enumerate():
        if thread.name.startswith("import-"):
            thread.join(timeout)
            assert not thread.is_alive()


def _outbox(app: Flask) -> list[mailbox.MaildirMessage]:
    return list(mailbox.Maildir(runtime(app).settings.outbox_dir, create=True))


def test_double_opt_in_needs_a_post(app: Flask, client: FlaskClient, make_token) -> None:
    assert "not open yet" in client.get("/subscribe").get_data(as_text=True)
    add_text(client, bearer(make_token("compliance")))
    page = client.get("/subscribe").get_data(as_text=True)
    assert TEXT in page
    sent = client.post(
        "/subscribe",
        data={"email": "mia@example.org", "purpose": PURPOSE},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert sent.status_code == 202
    (mail,) = _outbox(app)
    body = (
        mail.get_payload(0).get_payload(decode=True).decode()
        if mail.is_multipart()
        else mail.get_payload(decode=True).decode()
    )
    token = re.search(r"/confirm/([A-Za-z0-9._~-]+)", body).group(1)

    ledger = runtime(app).consent
    assert client.get(f"/confirm/{token}").status_code == 200  # a scanner's GET
    assert ledger.state("mia@example.org")[0].status != "confirmed"
    assert client.post(f"/confirm/{token}").status_code == 200
    assert ledger.state("mia@example.org")[0].valid
    assert client.post(f"/confirm/{token}").status_code == 410  # single use
    assert client.get("/confirm/garbage").status_code == 404

    json_sent = client.post("/subscribe", json={"email": "nope", "purpose": PURPOSE})
    assert json_sent.status_code == 422 and json_sent.get_json()["field"] == "email"


def test_sign_up_form_limits_mails_per_address_and_posts_per_network(
    tmp_path: Path, database_url: str
) -> None:
    from web.app import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path / "var", database_url, subscribe_max_per_client=6))
    client = app.test_client()
    ledger = runtime(app).consent
    ledger.add_consent_text(PURPOSE, "2026-11", "en", TEXT)

    def post(email: str, address: str) -> int:
        return client.post(
            "/subscribe",
            json={"email": email, "purpose": PURPOSE},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    # One address: three confirmation mails a day; the fourth sign-up looks the same
    # to the form's user but mails nobody and records nothing.
    assert [post("ida@example.org", "198.51.100.1") for _ in range(4)] == [202] * 4
    assert len(_outbox(app)) == 3
    assert [e.action for e in ledger.timeline("ida@example.org").events] == ["requested"] * 3
    # One network: six posts an hour, whatever the addresses; a different /64 is not affected.
    assert post("jan@example.org", "2001:db8:1:1::5") == 202
    assert post("kim@example.org", "2001:db8:1:1::6") == 202
    statuses = [post(f"p{i}@example.org", f"2001:db8:1:1::{i}") for i in range(10, 15)]
    assert statuses == [202, 202, 202, 202, 429]
    refused = client.post(
        "/subscribe",
        json={"email": "q@example.org", "purpose": PURPOSE},
        environ_base={"REMOTE_ADDR": "2001:db8:1:1:ffff::1"},
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert post("q@example.org", "2001:db8:1:2::1") == 202
    runtime(app).database.dispose()


def test_one_click_unsubscribe(app: Flask) -> None:
    ledger = runtime(app).consent
    from consent import EventInput, Evidence

    ledger.record(EventInput("leo@example.org", PURPOSE, "granted", "api", Evidence(source="crm")))
    headers = ledger.list_unsubscribe_headers("leo@example.org", PURPOSE, "camp-7")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https?://[^>]+)>", headers["List-Unsubscribe"]).group(1)
    path = "/" + url.split("/", 3)[3]
    client = app.test_client(use_cookies=False)
    assert client.get(path).status_code == 200  # the page; nothing withdrawn yet
    assert ledger.state("leo@example.org")[0].valid
    response = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert not ledger.state("leo@example.org")[0].valid
    assert ledger.is_suppressed("leo@example.org")


def test_cli_import_show_proof_verify(tmp_path: Path, database_url: str) -> None:
    env = {"SENDGATE_VAR_DIR": str(tmp_path / "var"), "SENDGATE_DATABASE_URL": database_url}
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email,consented_at,source\nzoe@example.org,2026-02-01T08:00:00Z,fair\n"
        "bad@,2026-02-01T08:00:00Z,fair\n"
    )
    imported = runner.invoke(
        cli, ["consent", "import", str(listing), "--purpose", PURPOSE, "--json"], env=env
    )
    assert imported.exit_code == 1  # a row was rejected
    assert json.loads(imported.output)["rejected"][0]["line"] == 3
    shown = runner.invoke(cli, ["consent", "show", "zoe@example.org", "--json"], env=env)
    assert json.loads(shown.output)["states"][0]["valid"] is True
    head = runner.invoke(cli, ["ledger", "head", "--sign", "--json"], env=env)
    assert json.loads(head.output)["tree_size"] >= 1
    out = tmp_path / "zoe.json"
    assert (
        runner.invoke(
            cli, ["consent", "proof", "zoe@example.org", "-o", str(out)], env=env
        ).exit_code
        == 0
    )
    assert (
        subprocess.run(
            [sys.executable, "-m", "consent.verify", str(out)], capture_output=True, check=False
        ).returncode
        == 0
    )
    verified = runner.invoke(cli, ["ledger", "verify", "--json"], env=env)
    assert verified.exit_code == 0 and json.loads(verified.output)["ok"] is True
    erased = runner.invoke(
        cli, ["consent", "erase", "zoe@example.org", "--reason", "DSR-7", "--yes"], env=env
    )
    assert erased.exit_code == 0
    assert "erased" in runner.invoke(cli, ["consent", "show", "zoe@example.org"], env=env).output


def test_cli_import_checks_deliverability_with_the_configured_nameserver(
    tmp_path: Path, sqlite_url: str
) -> None:
    from tests.support.dns_server import FixtureDnsServer

    with FixtureDnsServer() as dns:
        dns.add_records({"shop.example": {"MX": "10 mx.shop.example."}})
        dns.never_answer("slow.example")
        env = {
            "SENDGATE_VAR_DIR": str(tmp_path / "var"),
            "SENDGATE_DATABASE_URL": sqlite_url,
            "SENDGATE_NAMESERVERS": dns.nameserver,
            "SENDGATE_DNS_TIMEOUT": "0.3",
        }
        runner = CliRunner()
        assert runner.invoke(cli, ["init"], env=env).exit_code == 0
        listing = tmp_path / "list.csv"
        listing.write_text("email\nann@shop.example\nbob@slow.example\ncy@gone.example\n")
        command = ["consent", "import", str(listing), "--purpose", PURPOSE, "--json"]
        imported = runner.invoke(cli, [*command, "--check-deliverability"], env=env)
    result = json.loads(imported.output)
    assert imported.exit_code == 1 and result["accepted"] == 1
    assert [(r["line"], r["reason"]) for r in result["rejected"]] == [
        (3, "email: could not check that slow.example accepts mail (DNS timeout)"),
        (4, "email: the domain gone.example does not exist"),
    ]


def test_consent_jobs_run(app: Flask) -> None:
    from consent import EventInput

    bind_runtime(runtime(app))
    assert run_job("consent.signed-tree-head") == "head at size 0"
    runtime(app).consent.record(EventInput("kai@example.org", PURPOSE, "granted", "api"))
    assert run_job("consent.signed-tree-head") == "head at size 1"
    assert run_job("consent.verify") == "ok, 1 events"
    assert run_job("consent.expiry") == "0 consent(s) expired"
    assert run_job("consent.purge-tokens").endswith("token(s) purged")
    assert run_job("consent.run-imports") is None  # nothing queued
    queued = runtime(app).imports.submit(
        io.BytesIO(b"email\nlea@example.org\n"), PURPOSE, actor="api:test"
    )
    assert run_job("consent.run-imports") == "1 import(s) run"
    assert runtime(app).imports.get(queued.id).status == "done"


def test_officer_looks_up_proves_and_erases_in_the_ui(
    app: Flask, client: FlaskClient, make_user
) -> None:
    from consent import EventInput, Evidence

    from .conftest import csrf_token, login

    runtime(app).consent.record(
        EventInput(
            "ida@example.org",
            PURPOSE,
            "granted",
            "form",
            Evidence(source="shop", form_url="https://s.example/j"),
        )
    )
    login(client, *make_user("olga", "compliance"))
    page = client.get("/consent?email=ida@example.org").get_data(as_text=True)
    assert "ida@example.org" in page and "granted" in page
    proof = client.get("/consent/proof?email=ida@example.org")
    assert proof.mimetype == "application/json" and json.loads(proof.data)["events"]
    token = csrf_token(client, "/consent?email=ida@example.org")
    client.post(
        "/consent/erasure",
        data={"csrf_token": token, "email": "ida@example.org", "reason": "DSR-88 phone call"},
    )
    after = client.get("/consent?email=ida@example.org").get_data(as_text=True)
    assert "<h2>erased subject</h2>" in after
    assert "Erase this person" not in after


def test_marketer_imports_a_list_in_the_ui(app: Flask, client: FlaskClient, make_user) -> None:
    from .conftest import csrf_token, login

    login(client, *make_user("mia", "marketer"))
    page = client.get("/consent/imports").get_data(as_text=True)
    assert "No lists imported yet." in page and PURPOSE in page
    body = b"email,consented_at,source\nann@example.org,2026-01-05,fair\nnot-an-address,,\n"
    response = client.post(
        "/consent/imports",
        data={
            "csrf_token": csrf_token(client, "/consent/imports"),
            "purpose": PURPOSE,
            "file": (io.BytesIO(body), "list.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    job_page = response.headers["Location"]
    deadline = time.monotonic() + 30
    while 'http-equiv="refresh"' in (html := client.get(job_page).get_data(as_text=True)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "done" in html and "1 of 2 lines" not in html and "2 of 2 lines" in html
    assert "<td>3</td><td>email: " in html  # the rejected line and why
    _join_import_threads()
    assert runtime(app).consent.state("ann@example.org")[0].valid
    listing = client.get("/consent/imports").get_data(as_text=True)
    assert "mia" in listing and "done" in listing
    refused = client.post(
        "/consent/imports",
        data={
            "csrf_token": csrf_token(client, "/consent/imports"),
            "purpose": PURPOSE,
            "file": (io.BytesIO(b"name\nann\n"), "list.csv"),
        },
        content_type="multipart/form-data",
    )
    assert "no &#39;email&#39; column" in refused.get_data(as_text=True)
