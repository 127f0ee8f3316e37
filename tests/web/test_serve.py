"""`sendgate serve` starts gunicorn on the configured port and answers health checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_health_checks(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SENDGATE_VAR_DIR": str(tmp_path / "var"),
        "SENDGATE_DATABASE_URL": sqlite_url,
        "SENDGATE_PORT": str(port),
        "SENDGATE_WORKERS": "1",
    }
    subprocess.run(
        [sys.executable, "-m", "web.cli", "init"], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.2)
        assert body is not None, "server did not come up"
        assert b'"database":"ok"' in body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_service_logs_carry_no_addresses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import logging

    from web.cli.service import configure_logging

    from .conftest import make_settings

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging(make_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'x.db'}"))
        log = logging.getLogger("sendgate.test")
        log.error(
            "no consent for %s on GET %s", "Ana@Example.org", "/api/v1/consent/subjects/b@x.io"
        )
        try:
            raise ValueError("refused: <c.d@mail.example>")
        except ValueError:
            log.exception("upstream said no")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    err = capsys.readouterr().err
    assert "no consent for <address> on GET /api/v1/consent/subjects/<address>" in err
    assert "ValueError: refused: <address>" in err
    assert "@" not in err
