"""Reading a raw RFC 5322 message into a TemplateInput, whatever its encodings."""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
from email import policy as email_policy

from rules.model import TemplateInput

_FALLBACK_CHARSETS = ("utf-8", "cp1252")


def parse_eml(data: bytes) -> TemplateInput:
    """The subject, first text/html and first text/plain body parts, and the headers.

    Declared charsets are honoured; an unknown or wrong one falls back to UTF-8,
    then Windows-1252, with undecodable bytes replaced. Malformed MIME never
    raises: whatever parts could be read are returned.
    """
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"parse_eml expects bytes, not {type(data).__name__}")
    message = email.message_from_bytes(bytes(data), policy=email_policy.compat32)
    headers = tuple((str(name), _header_text(value)) for name, value in message.items())
    subject = _header_text(message.get("Subject", ""))
    html: str | None = None
    text: str | None = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/html" and html is None:
            html = _payload_text(part)
        elif content_type == "text/plain" and text is None:
            text = _payload_text(part)
    return TemplateInput(subject=subject, html=html, text=text, headers=headers)


def _decode(raw: bytes, charset: str | None) -> str:
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    for fallback in _FALLBACK_CHARSETS:
        try:
            return raw.decode(fallback)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _header_text(value: object) -> str:
    if isinstance(value, email.header.Header):
        chunks = email.header.decode_header(value)
    else:
        raw = str(value)
        try:
            chunks = email.header.decode_header(raw)
        except (ValueError, email.errors.HeaderParseError):
            return raw
    decoded = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            decoded.append(_decode(chunk, charset))
        else:
            decoded.append(chunk)
    # Encoded words join without the folding whitespace between them (RFC 2047);
    # plain chunks carry their own spaces. Folding leaves runs of whitespace.
    return " ".join("".join(decoded).split())


def _payload_text(part: email.message.Message) -> str:
    try:
        raw = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        raw = None
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    if not isinstance(raw, bytes):
        return str(raw)
    try:
        charset = part.get_content_charset()
    except (ValueError, LookupError):
        charset = None
    return _decode(raw, charset)
