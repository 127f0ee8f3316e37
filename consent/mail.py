"""The double-opt-in confirmation mail, localized from ``messages.yaml``."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path

import yaml

_MESSAGES = Path(__file__).with_name("messages.yaml")
FALLBACK_LANGUAGE = "en"
_KEYS = ("subject", "greeting", "body", "button", "expiry", "ignore")


@cache
def messages() -> dict[str, dict[str, str]]:
    """Every language's texts; each language must define every key (checked on load)."""
    data = yaml.safe_load(_MESSAGES.read_text(encoding="utf-8"))
    for language, texts in data.items():
        missing = [key for key in _KEYS if key not in texts]
        if missing:
            raise ValueError(f"{_MESSAGES.name}: {language} lacks {', '.join(missing)}")
    return data


def confirmation_message(
    *,
    to: str,
    sender: str,
    confirm_url: str,
    expires_at: datetime,
    language: str = FALLBACK_LANGUAGE,
    organisation: str = "",
) -> EmailMessage:
    """A multipart/alternative mail (text + HTML) asking to confirm at ``confirm_url``."""
    catalogue = messages()
    primary = language.split("-", maxsplit=1)[0].lower()
    texts = catalogue.get(primary, catalogue[FALLBACK_LANGUAGE])
    values = {
        "organisation": organisation or sender.rsplit("@", maxsplit=1)[-1].rstrip(">"),
        "expires": expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
    }
    body = texts["body"].format(**values)
    expiry = texts["expiry"].format(**values)
    message = EmailMessage()
    message["Subject"] = texts["subject"]
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = make_msgid(
        domain=sender.rsplit("@", maxsplit=1)[-1].strip("<> ") or None
    )
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"{texts['greeting']}\n\n{body}\n\n{confirm_url}\n\n{expiry}\n\n{texts['ignore']}\n"
    )
    shown = primary if primary in catalogue else FALLBACK_LANGUAGE
    escape = html.escape
    message.add_alternative(
        "<!doctype html>\n"
        f'<html lang="{shown}"><body>\n'
        f"<p>{escape(texts['greeting'])}</p>\n<p>{escape(body)}</p>\n"
        f'<p><a href="{escape(confirm_url, quote=True)}">{escape(texts["button"])}</a></p>\n'
        f"<p>{escape(expiry)}</p>\n<p>{escape(texts['ignore'])}</p>\n</body></html>\n",
        subtype="html",
    )
    # After the bodies: setting content replaces every Content-* header.
    message["Content-Language"] = shown
    return message
