"""Pages people reach from emails without an account (subscribe, confirm, unsubscribe).

These views are ``@public``: no login, and the one-click unsubscribe POST is
exempt from CSRF because RFC 8058 clients post without a cookie or token.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__, template_folder="../templates")
