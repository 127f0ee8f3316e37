"""SpamAssassin as the baseline: a private spamd on loopback, scored through spamc.

spamd runs with network tests off (``--local``), no per-user configuration
(``--nouser-config``), listening on a free 127.0.0.1 port, and is stopped when
the context manager exits. Only the benchmarks use it; tests never need it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# spamc skips (and reports 0 for) messages above its size limit, 500 KB by default;
# a few corpus messages are larger, so the limit is raised to score everything.
SPAMC_MAX_SIZE = 8 * 1024 * 1024
SPAMD_START_TIMEOUT_S = 60.0


class SpamAssassinUnavailableError(RuntimeError):
    """spamd/spamc are not installed or spamd did not come up."""


@dataclass(frozen=True)
class SpamAssassinScore:
    """spamc's verdict for one message: score, the site's required score, seconds taken."""

    score: float
    threshold: float
    seconds: float


def spamassassin_installed() -> bool:
    """True if both spamd and spamc are on PATH (or in /usr/sbin)."""
    return _find("spamd") is not None and _find("spamc") is not None


def _find(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class SpamdServer:
    """A running spamd: where it listens and how many children score in parallel."""

    host: str
    port: int
    children: int

    def score(self, raw: bytes) -> SpamAssassinScore:
        """Score one raw message with ``spamc -c``; raises on any spamc/spamd failure.

        ``-x`` makes spamc fail instead of "safely" answering 0/0 when spamd
        cannot be reached, so a broken baseline never looks like a clean ham.
        """
        spamc = _find("spamc")
        if spamc is None:
            raise SpamAssassinUnavailableError("spamc is not installed")
        started = time.perf_counter()
        completed = subprocess.run(
            [spamc, "-x", "-c", "-d", self.host, "-p", str(self.port), "-s", str(SPAMC_MAX_SIZE)],
            input=raw,
            capture_output=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        # spamc -c exits 1 for spam, 0 for ham, anything else is an error.
        output = completed.stdout.decode("ascii", "replace").strip()
        if completed.returncode not in (0, 1) or "/" not in output:
            raise SpamAssassinUnavailableError(
                f"spamc exited {completed.returncode}: {output or completed.stderr[:200]!r}"
            )
        score_text, threshold_text = output.split("/", 1)
        return SpamAssassinScore(float(score_text), float(threshold_text), seconds)

    def score_many(self, raws: list[bytes]) -> list[SpamAssassinScore]:
        """Score messages with as many concurrent spamc calls as spamd has children."""
        with ThreadPoolExecutor(max_workers=self.children) as pool:
            return list(pool.map(self.score, raws))


@contextmanager
def running_spamd(children: int = 2) -> Iterator[SpamdServer]:
    """Start a private spamd on a free loopback port and stop it on exit.

    Raises :class:`SpamAssassinUnavailableError` if spamd is missing or does not
    answer within ``SPAMD_START_TIMEOUT_S``; the error carries spamd's last log lines.
    """
    spamd = _find("spamd")
    if spamd is None or _find("spamc") is None:
        raise SpamAssassinUnavailableError(
            "spamd/spamc not installed (Debian: apt-get install spamassassin spamc)"
        )
    port = _free_loopback_port()
    with tempfile.TemporaryDirectory(prefix="spamd-") as scratch:
        log_path = Path(scratch) / "spamd.log"
        pid_path = Path(scratch) / "spamd.pid"
        command = [
            spamd,
            "--local",
            "--nouser-config",
            f"--listen=127.0.0.1:{port}",
            f"--max-children={children}",
            f"--min-children={children}",
            f"--min-spare={children}",
            f"--pidfile={pid_path}",
            "--syslog=stderr",
        ]
        if os.geteuid() == 0:
            # spamd refuses to score as root; it would fall back to nobody anyway.
            command.append("--username=nobody")
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        server = SpamdServer("127.0.0.1", port, children)
        try:
            _wait_until_listening(server, process, log_path)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(
    server: SpamdServer, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + SPAMD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SpamAssassinUnavailableError(
                f"spamd exited with {process.returncode}: {_tail(log_path)}"
            )
        try:
            with socket.create_connection((server.host, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SpamAssassinUnavailableError(f"spamd did not listen in time: {_tail(log_path)}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
