"""parse_eml: subject and parts from raw messages, whatever their encodings."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

import rules
from rules import parse_eml


def test_multipart_message_with_encoded_subject() -> None:
    message = EmailMessage()
    message["Subject"] = "Frühlingsangebot für Sie"
    message["From"] = "shop@example.com"
    message["List-Unsubscribe"] = "<https://example.com/u/1>"
    message.set_content("Hallo, die Frühjahrskollektion ist da.")
    message.add_alternative("<p>Hallo, die <b>Frühjahrskollektion</b> ist da.</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    template = parse_eml(message.as_bytes())
    assert template.subject == "Frühlingsangebot für Sie"
    assert template.text is not None and "Frühjahrskollektion" in template.text
    assert template.html is not None and "<b>Frühjahrskollektion</b>" in template.html
    assert ("List-Unsubscribe", "<https://example.com/u/1>") in template.headers


def test_mixed_and_wrong_encodings_do_not_crash() -> None:
    raw = (
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?iso-8859-1?q?_aus_K=F6ln?= =?bogus?q?x?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Caf\xe9 latin-1 bytes in a part declared utf-8\r\n"
        b"--b\r\nContent-Type: text/html; charset=x-unknown-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nPHA+SGVsbG8gd29ybGQ8L3A+\r\n"
        b"--b--\r\n"
    )
    template = parse_eml(raw)
    assert template.subject.startswith("Grüße aus Köln")
    assert template.text is not None and template.text.startswith("Café latin-1")
    assert template.html == "<p>Hello world</p>"


def test_empty_subject_and_garbage_body() -> None:
    template = parse_eml(b"From: a@example.com\r\n\r\n\xff\xfe\x00garbage")
    assert template.subject == ""
    assert template.text is not None
    rules.score_template(template)


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\x01\x02", b"Content-Type: multipart/mixed\r\n\r\nno boundary"]
)
def test_degenerate_messages(raw: bytes) -> None:
    template = parse_eml(raw)
    assert isinstance(template.subject, str)
    rules.score_template(template)


def test_parse_eml_refuses_text() -> None:
    with pytest.raises(TypeError, match="expects bytes"):
        parse_eml("Subject: x")  # type: ignore[arg-type]
