"""The UI for people: sign-in, dashboard, users, API tokens, audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from auditor import registry as sender_registry
from web import accounts
from web.access import current_user, public, requires
from web.runtime import request_session, runtime
from web.ui.forms import (
    ChangePasswordForm,
    CreateTokenForm,
    CreateUserForm,
    LoginForm,
    PlainForm,
    UserActiveForm,
)

bp = Blueprint("ui", __name__, template_folder="../templates")

ALL_ROLES = ("marketer", "compliance", "admin")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("ui.dashboard")


def login_policy() -> accounts.LoginPolicy:
    rt = runtime()
    return accounts.LoginPolicy(
        max_attempts=rt.settings.login_max_attempts,
        window=timedelta(seconds=rt.settings.login_window_seconds),
        throttle_key=rt.keys.session_secret,
    )


@bp.route("/")
@public
def index() -> Response:
    return redirect(url_for("ui.dashboard") if current_user() else url_for("ui.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        db_session = request_session()
        try:
            user = accounts.authenticate(
                db_session,
                form.username.data,
                form.password.data,
                request.remote_addr or "unknown",
                login_policy(),
            )
        except accounts.LoginThrottled as exc:
            db_session.commit()
            flash("Too many failed attempts. Try again later.", "error")
            return (
                render_template("ui/login.html", form=form),
                429,
                {"Retry-After": str(exc.retry_after)},
            )
        except accounts.AuthenticationFailed:
            db_session.commit()
            flash("Invalid user name or password.", "error")
            status = 401
        else:
            db_session.commit()
            session.clear()
            session["user_id"] = user.id
            session["password_hash_tag"] = user.password_hash[-16:]
            session.permanent = True
            if user.must_change_password:
                return redirect(url_for("ui.change_password"))
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("ui/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout() -> Response:
    form = PlainForm()
    if form.validate_on_submit():
        session.clear()
    return redirect(url_for("ui.login"))


@bp.route("/forbidden")
@public
def forbidden() -> Any:
    return render_template("ui/forbidden.html"), 403


@bp.route("/dashboard")
@requires(*ALL_ROLES)
def dashboard() -> Any:
    session = request_session()
    return render_template(
        "ui/dashboard.html",
        senders=sender_registry.list_senders(session),
        drift=sender_registry.recent_drift(session, limit=10),
    )


@bp.route("/account/password", methods=["GET", "POST"])
@requires(*ALL_ROLES)
def change_password() -> Any:
    form = ChangePasswordForm()
    user = current_user()
    assert user is not None
    if form.validate_on_submit():
        db_session = request_session()
        try:
            accounts.authenticate(
                db_session,
                user.username,
                form.current.data,
                request.remote_addr or "unknown",
                login_policy(),
            )
            accounts.change_password(db_session, user, form.new.data, actor=user.username)
        except accounts.LoginThrottled:
            db_session.commit()
            flash("Too many failed attempts. Try again later.", "error")
            return render_template("ui/password.html", form=form), 429
        except accounts.AuthenticationFailed:
            db_session.commit()
            flash("The current password is wrong.", "error")
            return render_template("ui/password.html", form=form), 401
        except accounts.InvalidAccountInput as exc:
            flash(str(exc), "error")
            return render_template("ui/password.html", form=form), 400
        db_session.commit()
        session["password_hash_tag"] = user.password_hash[-16:]
        flash("Password changed.", "info")
        return redirect(url_for("ui.dashboard"))
    return render_template("ui/password.html", form=form)


@bp.route("/users", methods=["GET", "POST"])
@requires("admin")
def users() -> Any:
    form = CreateUserForm()
    db_session = request_session()
    created_password = None
    if form.validate_on_submit():
        me = current_user()
        assert me is not None
        try:
            _, created_password = accounts.create_user(
                db_session, form.username.data.strip(), form.role.data, actor=me.username
            )
            db_session.commit()
            flash(f"User {form.username.data} created.", "info")
        except accounts.AccountError as exc:
            db_session.rollback()
            flash(str(exc), "error")
    return render_template(
        "ui/users.html",
        form=form,
        users=accounts.list_users(db_session),
        toggle=UserActiveForm(),
        created_password=created_password,
    )


@bp.route("/users/<username>/active", methods=["POST"])
@requires("admin")
def set_user_active(username: str) -> Response:
    form = UserActiveForm()
    if not form.validate_on_submit():
        abort(400)
    me = current_user()
    assert me is not None
    if username == me.username and not form.active.data:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("ui.users"))
    db_session = request_session()
    try:
        accounts.set_active(db_session, username, bool(form.active.data), actor=me.username)
    except accounts.UnknownUser:
        abort(404)
    db_session.commit()
    return redirect(url_for("ui.users"))


@bp.route("/tokens", methods=["GET", "POST"])
@requires(*ALL_ROLES)
def tokens() -> Any:
    form = CreateTokenForm()
    me = current_user()
    assert me is not None
    db_session = request_session()
    new_token = None
    if form.validate_on_submit():
        days = form.expires_in_days.data
        try:
            _, new_token = accounts.create_token(
                db_session,
                me,
                form.name.data,
                expires_in=timedelta(days=days) if days else None,
            )
            db_session.commit()
        except accounts.AccountError as exc:
            db_session.rollback()
            flash(str(exc), "error")
    return render_template(
        "ui/tokens.html",
        form=form,
        revoke=PlainForm(),
        new_token=new_token,
        tokens=accounts.list_tokens(db_session, me),
    )


@bp.route("/tokens/<token_id>/revoke", methods=["POST"])
@requires(*ALL_ROLES)
def revoke_token(token_id: str) -> Response:
    if not PlainForm().validate_on_submit():
        abort(400)
    me = current_user()
    assert me is not None
    db_session = request_session()
    if token_id not in {t.public_id for t in accounts.list_tokens(db_session, me)}:
        abort(404)
    accounts.revoke_token(db_session, token_id, actor=me.username)
    db_session.commit()
    flash("Token revoked.", "info")
    return redirect(url_for("ui.tokens"))


@bp.route("/audit-log")
@requires("compliance", "admin")
def audit_log() -> Any:
    before = request.args.get("before_id", type=int)
    entries = accounts.audit_log(request_session(), limit=100, before_id=before)
    return render_template("ui/audit_log.html", entries=entries)
