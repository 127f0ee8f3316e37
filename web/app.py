"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from db import DatabaseError
from web.access import current_user, public
from web.api import init_api
from web.config import Settings, load_settings
from web.imports import EncryptedUploadRequest, allow_large_uploads
from web.problems import register_problem_handlers
from web.public import bp as public_bp
from web.runtime import EXTENSION_KEY, Runtime, close_request_session, runtime
from web.ui import bp as ui_bp
from web.ui.consent import bp as consent_ui_bp
from web.ui.senders import bp as senders_ui_bp

csrf = CSRFProtect()


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the web application.

    ``config`` is a ready :class:`Settings`, a mapping of setting overrides on
    top of the environment, or None for the environment alone. The keys file
    must exist (``sendgate init``); a bad setting raises ``ConfigError``.
    """
    settings = config if isinstance(config, Settings) else load_settings(overrides=config)
    rt = Runtime.from_settings(settings)

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.extensions[EXTENSION_KEY] = rt
    app.config.update(
        SECRET_KEY=rt.keys.session_secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        SESSION_COOKIE_NAME="sendgate_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)  # type: ignore[method-assign]
    logging.getLogger("sendgate").setLevel(settings.log_level.upper())

    csrf.init_app(app)
    init_api(app)
    app.register_blueprint(ui_bp)
    app.register_blueprint(senders_ui_bp)
    app.register_blueprint(consent_ui_bp)
    app.register_blueprint(public_bp)
    # The JSON API authenticates with bearer tokens, which a foreign site cannot make a
    # browser send, and the public pages act on the token in their link, so CSRF tokens
    # guard only the cookie-authenticated pages.
    for name, blueprint in app.blueprints.items():
        if name not in {ui_bp.name, senders_ui_bp.name, consent_ui_bp.name}:
            csrf.exempt(blueprint)
    register_problem_handlers(app)
    app.request_class = EncryptedUploadRequest
    app.before_request(allow_large_uploads)
    app.teardown_appcontext(close_request_session)

    @app.context_processor
    def _inject_user() -> dict[str, Any]:
        return {"current_user": current_user()}

    @app.route("/healthz")
    @public
    def healthz() -> Response:
        """The process is up (no dependency is checked)."""
        return jsonify(status="ok")

    @app.route("/readyz")
    @public
    def readyz() -> tuple[Response, int]:
        """The process can serve: the database answers."""
        try:
            runtime().database.ping()
        except DatabaseError:
            return jsonify(status="unavailable", database="unreachable"), 503
        return jsonify(status="ok", database="ok"), 200

    return app
