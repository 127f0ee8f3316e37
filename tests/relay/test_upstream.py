"""Upstream delivery over real sockets (aiosmtpd) and into a real Maildir."""

from __future__ import annotations

import mailbox
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from relay.upstream import (
    MaildirUpstream,
    SmtpUpstream,
    UpstreamRejected,
    UpstreamUnavailable,
    upstream_from_url,
)


class Collecting:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.rcpt_reply: str | None = None
        self.data_reply = "250 OK"

    async def handle_RCPT(
        self, server, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.messages.append(envelope)
        return self.data_reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collecting, int]]:
    handler = Collecting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "news@shop.example"
    msg["To"] = "ana@example.org"
    msg["Subject"] = "Your order"
    msg.set_content("Hello Ana,\nyour order shipped.\n")
    return msg


def test_smtp_upstream_delivers(smtp_server) -> None:
    handler, port = smtp_server
    SmtpUpstream("127.0.0.1", port).send(
        message(), mail_from="bounce@shop.example", rcpt_to=["ana@example.org"]
    )
    assert len(handler.messages) == 1
    assert handler.messages[0].mail_from == "bounce@shop.example"
    assert b"your order shipped" in handler.messages[0].content


def test_temporary_refusal_is_unavailable(smtp_server) -> None:
    handler, port = smtp_server
    handler.data_reply = "451 4.3.0 try again later"
    with pytest.raises(UpstreamUnavailable, match="451"):
        SmtpUpstream("127.0.0.1", port).send(
            message(), mail_from="b@shop.example", rcpt_to=["ana@example.org"]
        )


def test_permanent_refusal_is_rejected(smtp_server) -> None:
    handler, port = smtp_server
    handler.rcpt_reply = "550 5.1.1 no such user"
    with pytest.raises(UpstreamRejected) as info:
        SmtpUpstream("127.0.0.1", port).send(
            message(), mail_from="b@shop.example", rcpt_to=["ana@example.org"]
        )
    assert info.value.code == 550


def test_refusal_texts_do_not_carry_addresses(smtp_server) -> None:
    handler, port = smtp_server
    handler.data_reply = "554 5.7.1 <ana@example.org>: blocked; mail from b@shop.example refused"
    with pytest.raises(UpstreamRejected) as info:
        SmtpUpstream("127.0.0.1", port).send(
            message(), mail_from="b@shop.example", rcpt_to=["ana@example.org"]
        )
    assert "@" not in str(info.value)
    assert str(info.value).endswith("554 5.7.1 <address>: blocked; mail from <address> refused")


def test_upstream_down_is_unavailable() -> None:
    upstream = SmtpUpstream("127.0.0.1", free_port(), timeout=2, password="s3cr3t-pw", username="u")
    with pytest.raises(UpstreamUnavailable) as info:
        upstream.send(message(), mail_from="b@shop.example", rcpt_to=["ana@example.org"])
    assert "s3cr3t-pw" not in str(info.value)
    assert "s3cr3t-pw" not in repr(upstream)


def test_maildir_upstream_writes_whole_messages(tmp_path: Path) -> None:
    MaildirUpstream(tmp_path / "outbox").send(
        message(), mail_from="b@shop.example", rcpt_to=["ana@example.org"]
    )
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    (stored,) = list(box)
    assert stored["Subject"] == "Your order"
    assert stored["Return-Path"] == "<b@shop.example>"
    assert not list((tmp_path / "outbox" / "tmp").iterdir())


def test_upstream_urls() -> None:
    smtp = upstream_from_url("smtp://relay.internal:587?starttls=1", username="u", password="p")
    assert isinstance(smtp, SmtpUpstream)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.implicit_tls) == (
        "relay.internal",
        587,
        True,
        False,
    )
    smtps = upstream_from_url("smtps://relay.internal")
    assert isinstance(smtps, SmtpUpstream) and smtps.port == 465 and smtps.implicit_tls
    assert isinstance(upstream_from_url("maildir:/tmp/x"), MaildirUpstream)
    with pytest.raises(ValueError, match="upstream must be"):
        upstream_from_url("http://x")
