"""Pages people reach from emails without an account: subscribe, confirm, unsubscribe.

Every view is ``@public`` and exempt from CSRF: the tokens in the links are the
credentials, and RFC 8058 one-click clients post without cookies. Confirmation
and unsubscribe act only on POST, because link scanners and mail previews fetch
every GET.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from werkzeug.wrappers import Response

from consent import (
    ConsentTextRecord,
    Evidence,
    InvalidInput,
    OptInThrottled,
    Suppressed,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenReused,
)
from db import utcnow
from relay import UpstreamError
from web.access import public
from web.ratelimit import Budget, RateLimited, client_key, spend
from web.runtime import runtime

bp = Blueprint("public", __name__, template_folder="../templates")
log = logging.getLogger("sendgate.public")

DEFAULT_PURPOSE = "marketing-email"
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


def _evidence(text: ConsentTextRecord | None = None, source: str = "hosted-form") -> Evidence:
    return Evidence(
        text_id=text.id if text else None,
        form_url=request.base_url,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or None),
        source=source,
    )


def _current_text(purpose: str, language: str) -> ConsentTextRecord | None:
    """The newest consent text for the purpose in the language, else in English, else any."""
    texts = runtime().consent.consent_texts(purpose)
    for wanted in (language, "en", None):
        matching = [t for t in texts if wanted is None or t.language.split("-")[0] == wanted]
        if matching:
            return max(matching, key=lambda t: t.created_at)
    return None


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    settings = runtime().settings
    return render_template(template, organisation=settings.organisation, **context), status


@bp.route("/subscribe", methods=["GET", "POST"])
@public
def subscribe() -> Any:
    """The hosted sign-up form (GET) and its submission (form or JSON POST)."""
    data = (request.get_json(silent=True) or {}) if request.is_json else request.form
    purpose = str(data.get("purpose") or request.args.get("purpose") or DEFAULT_PURPOSE)
    language = str(data.get("language") or request.args.get("lang") or "en")[:35]
    try:
        text = _current_text(purpose, language.split("-")[0])
    except InvalidInput as exc:
        return _failure(str(exc), 422, exc.field)
    if request.method == "GET":
        return _page("public/subscribe.html", purpose=purpose, language=language, text=text)
    rt = runtime()
    budget = Budget(
        "subscribe",
        rt.settings.subscribe_max_per_client,
        timedelta(seconds=rt.settings.subscribe_window_seconds),
    )
    try:
        with rt.database.session() as session:
            spend(
                session, budget, client_key(rt.keys.session_secret, request.remote_addr), utcnow()
            )
    except RateLimited as exc:
        return _failure(
            "too many sign-ups from your network; please try again later",
            429,
            None,
            retry_after=exc.retry_after,
        )
    email = str(data.get("email") or "").strip()
    if not email:
        return _failure("email: an address is required", 422, "email")
    if text is None:
        return _failure(f"purpose: no consent text is published for {purpose!r}", 422, "purpose")
    ledger = runtime().consent
    try:
        opt_in = ledger.request_opt_in(
            email,
            purpose,
            _evidence(text),
            language=language,
            name=(str(data.get("name")).strip() or None) if data.get("name") else None,
        )
    except OptInThrottled:
        # The address had its confirmation mails for today. The answer is the same as
        # for a new address, so the form tells no one whether it was used before.
        return _accepted()
    except InvalidInput as exc:
        # A suppressed address gets the same answer as a new one: no one learns who is
        # on the list, and nobody is mailed.
        if isinstance(exc, Suppressed):
            return _accepted()
        return _failure(exc.message, 422, exc.field)
    settings = runtime().settings
    message = ledger.confirmation_email(
        opt_in,
        email,
        sender=settings.mail_from,
        language=language.split("-")[0],
        organisation=settings.organisation,
    )
    try:
        runtime().upstream.send(message, mail_from=settings.mail_from, rcpt_to=[email])
    except UpstreamError as exc:
        log.error("confirmation mail not sent: %s", exc)
        return _failure(
            "the confirmation mail could not be sent; please try again later", 503, None
        )
    return _accepted()


def _accepted() -> Any:
    if _wants_json():
        return jsonify(status="confirmation-sent"), 202
    return _page("public/subscribe_sent.html", 202)


def _failure(message: str, status: int, field: str | None, retry_after: int | None = None) -> Any:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if _wants_json():
        return jsonify(error=message, field=field), status, headers
    page, _ = _page("public/message.html", status, title="Sign-up failed", message=message)
    return page, status, headers


_TOKEN_MESSAGES = {
    TokenExpired: "This confirmation link has expired. Please sign up again.",
    TokenReused: "This link was used already. Nothing more to do.",
    TokenInvalid: "This link is not valid. Please copy the whole link from the mail.",
}


def _token_problem(exc: TokenError) -> tuple[str, int]:
    message = next(
        (m for cls, m in _TOKEN_MESSAGES.items() if isinstance(exc, cls)),
        "This link cannot be used.",
    )
    status = 410 if isinstance(exc, TokenExpired | TokenReused) else 404
    return _page("public/message.html", status, title="Link not usable", message=message)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@public
def confirm(token: str) -> Any:
    """GET shows a button; only its POST records the confirmation."""
    ledger = runtime().consent
    try:
        info = ledger.inspect_token(token)
        if info.kind != "confirm":
            raise TokenInvalid("token", "not a confirmation token")
        if request.method == "GET":
            if info.used:
                raise TokenReused("token", "used already")
            return _page("public/confirm.html", purpose=info.purpose, token=token)
        ledger.confirm_opt_in(token, _evidence(source="confirmation-page"))
    except TokenError as exc:
        return _token_problem(exc)
    return _page(
        "public/message.html",
        title="Subscription confirmed",
        message="Thank you. Your subscription is confirmed.",
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
def unsubscribe(token: str) -> Any:
    """GET shows a button; POST withdraws. A POST whose body is the RFC 8058 one-click
    form answers 200 with a short text, without redirect, cookie or login."""
    ledger = runtime().consent
    one_click = request.method == "POST" and (
        request.form.get("List-Unsubscribe") == "One-Click"
        or request.get_data(as_text=True).strip() == ONE_CLICK_BODY
    )
    try:
        info = ledger.inspect_token(token)
        if info.kind != "unsubscribe":
            raise TokenInvalid("token", "not an unsubscribe token")
        if request.method == "GET":
            return _page(
                "public/unsubscribe.html", purpose=info.purpose, token=token, done=info.used
            )
        ledger.withdraw(
            token,
            "one-click-unsubscribe" if one_click else "form",
            _evidence(source="one-click" if one_click else "unsubscribe-page"),
        )
    except TokenError as exc:
        if one_click:
            return Response("invalid unsubscribe link\n", status=404, mimetype="text/plain")
        return _token_problem(exc)
    if one_click:
        return Response("unsubscribed\n", status=200, mimetype="text/plain")
    return _page(
        "public/message.html",
        title="Unsubscribed",
        message="You will not receive these mails any more.",
    )
