"""Keeping addresses out of free text that may reach a log or an error message."""

from __future__ import annotations

import re

# Anything shaped like local@domain, with the angle brackets SMTP puts around it.
_ADDRESS = re.compile(r"<?[^\s<>@\"'/]+@[^\s<>@\"'/]+>?")
PLACEHOLDER = "<address>"


def redact_addresses(text: str) -> str:
    """``text`` with every email address replaced by ``<address>``."""
    return _ADDRESS.sub(PLACEHOLDER, text)
