"""Delivery to the upstream: a real SMTP server, or a local Maildir in development.

An upstream either accepts a message or raises: :class:`UpstreamUnavailable`
for faults the sender should retry later (connection refused, timeout, 4xx),
:class:`UpstreamRejected` for permanent refusals (5xx). Nothing is reported as
sent before the upstream said so.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from consent.redaction import redact_addresses


class UpstreamError(Exception):
    """Base class of delivery failures. Messages never contain credentials."""


class UpstreamUnavailable(UpstreamError):
    """Temporary failure: retry later (maps to SMTP 451)."""


class UpstreamRejected(UpstreamError):
    """Permanent refusal by the upstream; ``code`` is its SMTP reply code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Upstream(Protocol):
    def send(self, message: EmailMessage, *, mail_from: str, rcpt_to: list[str]) -> None:
        """Deliver ``message``; return only once the upstream accepted it."""


@dataclass(frozen=True)
class MaildirUpstream:
    """Development upstream: every message lands in a local Maildir (``new/``)."""

    path: Path

    def send(self, message: EmailMessage, *, mail_from: str, rcpt_to: list[str]) -> None:
        # Maildir delivery writes to tmp/ and renames into new/: a reader never sees half a
        # message. The envelope goes into trace headers, as a local delivery agent writes them.
        envelope = f"Return-Path: <{mail_from}>\r\nX-Original-To: {', '.join(rcpt_to)}\r\n"
        try:
            mailbox.Maildir(self.path, create=True).add(envelope.encode() + message.as_bytes())
        except OSError as exc:
            raise UpstreamUnavailable(f"maildir {self.path} not writable: {exc.strerror}") from None


@dataclass(frozen=True)
class SmtpUpstream:
    host: str
    port: int
    starttls: bool = False
    implicit_tls: bool = False
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    local_hostname: str | None = None

    def send(self, message: EmailMessage, *, mail_from: str, rcpt_to: list[str]) -> None:
        context = ssl.create_default_context()
        cls = smtplib.SMTP_SSL if self.implicit_tls else smtplib.SMTP
        kwargs = {"context": context} if self.implicit_tls else {}
        try:
            with cls(
                self.host,
                self.port,
                timeout=self.timeout,
                local_hostname=self.local_hostname,
                **kwargs,
            ) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message, from_addr=mail_from, to_addrs=rcpt_to)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _classify(exc.recipients) from None
        except smtplib.SMTPResponseException as exc:
            # Replies often quote the envelope ("<ana@example.org>: Recipient address
            # rejected"); error texts end up in logs, where no address may appear.
            error = redact_addresses(
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            if 400 <= exc.smtp_code < 500:
                raise UpstreamUnavailable(
                    f"upstream {self.host}:{self.port} answered {exc.smtp_code}: {error}"
                ) from None
            raise UpstreamRejected(
                f"upstream {self.host}:{self.port} refused: {exc.smtp_code} {error}", exc.smtp_code
            ) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise UpstreamUnavailable(
                f"upstream {self.host}:{self.port} unreachable: {type(exc).__name__}: {exc}"
            ) from None
        if refused:
            raise _classify(refused)


def _classify(refused: dict[str, tuple[int, bytes]]) -> UpstreamError:
    codes = [code for code, _ in refused.values()]
    summary = f"{len(refused)} recipient(s) refused with code(s) {sorted(set(codes))}"
    if all(400 <= c < 500 for c in codes):
        return UpstreamUnavailable(summary)
    return UpstreamRejected(summary, max(codes))


def upstream_from_url(url: str, *, username: str = "", password: str = "") -> Upstream:
    """Build the upstream named by ``SENDGATE_UPSTREAM``: smtp://, smtps:// or maildir:."""
    if url.startswith("maildir:"):
        return MaildirUpstream(Path(url[len("maildir:") :]))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("upstream must be smtp://HOST[:PORT], smtps://HOST[:PORT] or maildir:PATH")
    implicit = parts.scheme == "smtps"
    starttls = query.get("starttls", ["0"])[0].lower() in {"1", "true", "yes"}
    return SmtpUpstream(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        starttls=starttls,
        implicit_tls=implicit,
        username=username or (parts.username or ""),
        password=password or (parts.password or ""),
    )
