"""UI: registered senders, their audit reports and drift."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from auditor import DEFAULT_PROFILE, AuditorError, SenderSpec, profile_names
from auditor import registry as senders
from web.access import actor_name, current_user, record_action, requires
from web.runtime import request_session, runtime
from web.ui.forms import PlainForm

bp = Blueprint("senders_ui", __name__, url_prefix="/senders", template_folder="../templates")

READERS = ("marketer", "compliance", "admin")


class SenderForm(FlaskForm):
    domain = StringField("Sending domain", validators=[DataRequired(), Length(max=253)])
    ips = StringField("Fixed sending IPs (comma-separated)", validators=[Optional()])
    dkim_selectors = StringField("DKIM selectors (comma-separated)", validators=[Optional()])
    helo = StringField("HELO name", validators=[Optional(), Length(max=253)])
    from_domain = StringField("From domain, if different", validators=[Optional()])
    profile = SelectField("Profile", default=DEFAULT_PROFILE)


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").replace(" ", ",").split(",") if item.strip()]


@bp.route("", methods=["GET", "POST"])
@requires(*READERS)
def index() -> Any:
    form = SenderForm()
    form.profile.choices = list(profile_names())
    session = request_session()
    user = current_user()
    can_register = user is not None and user.role in {"marketer", "admin"}
    if can_register and form.validate_on_submit():
        try:
            spec = SenderSpec(
                domain=form.domain.data,
                ips=_split(form.ips.data),
                dkim_selectors=_split(form.dkim_selectors.data),
                helo=form.helo.data or None,
                from_domain=form.from_domain.data or None,
            )
            sender = senders.register_sender(
                session, spec, actor=actor_name(), profile=form.profile.data
            )
            record_action("sender.register", target=f"sender:{sender.domain}")
            flash(f"Sender {sender.domain} registered. Run its first audit below.", "info")
            return redirect(url_for("senders_ui.detail", sender_id=sender.id))
        except AuditorError as exc:
            session.rollback()
            flash(str(exc), "error")
    return render_template(
        "ui/senders.html",
        form=form,
        can_register=can_register,
        senders=senders.list_senders(session),
        drift=senders.recent_drift(session, limit=20),
    )


@bp.route("/<int:sender_id>")
@requires(*READERS)
def detail(sender_id: int) -> Any:
    session = request_session()
    try:
        sender = senders.get_sender(session, sender_id)
    except senders.UnknownSender:
        abort(404)
    history = senders.audit_history(session, sender, limit=30)
    return render_template(
        "ui/sender.html",
        sender=sender,
        history=history,
        latest=history[0] if history else None,
        drift=senders.recent_drift(session, sender=sender, limit=10),
        audit_form=PlainForm(),
    )


@bp.route("/<int:sender_id>/audits", methods=["POST"])
@requires(*READERS)
def run_audit(sender_id: int) -> Response:
    if not PlainForm().validate_on_submit():
        abort(400)
    session = request_session()
    rt = runtime()
    try:
        recorded = senders.audit_registered(
            session,
            sender_id,
            resolver=rt.dns_resolver,
            dnsbl_zones=rt.settings.dnsbl_zones,
            trigger="ui",
            actor=actor_name(),
        )
    except senders.UnknownSender:
        abort(404)
    sender = recorded.audit.sender
    record_action(
        "sender.audit",
        target=f"sender:{sender.domain}",
        details={"verdict": recorded.audit.verdict},
    )
    return redirect(url_for("senders_ui.audit", sender_id=sender_id, audit_id=recorded.audit.id))


@bp.route("/<int:sender_id>/audits/<int:audit_id>")
@requires(*READERS)
def audit(sender_id: int, audit_id: int) -> Any:
    session = request_session()
    stored = senders.get_audit(session, audit_id)
    if stored is None or stored.sender_id != sender_id:
        abort(404)
    return render_template(
        "ui/sender_audit.html", audit=stored, sender=stored.sender, result=stored.result
    )
