"""API: registered senders and their audits."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from auditor import AuditorError, SenderSpec, profile_names
from auditor import registry as senders
from auditor.models import Sender, StoredAudit
from web.access import actor_name, record_action, requires
from web.problems import ApiProblem
from web.runtime import request_session, runtime

URL_PREFIX = "/senders"
blp = Blueprint("senders", __name__, description="Registered senders and their audits")

READERS = ("marketer", "compliance", "admin")


class SenderCreateSchema(ma.Schema):
    domain = ma.fields.String(required=True, metadata={"description": "Sending domain"})
    from_domain = ma.fields.String(
        load_default=None,
        metadata={"description": "Visible From domain DMARC applies to (default: domain)"},
    )
    ips = ma.fields.List(
        ma.fields.String(),
        load_default=list,
        metadata={"description": "Fixed sending IPs (v4 or v6)"},
    )
    dkim_selectors = ma.fields.List(ma.fields.String(), load_default=list)
    helo = ma.fields.String(load_default=None)
    profile = ma.fields.String(load_default="bulk-sender-2024")


class SenderSchema(ma.Schema):
    id = ma.fields.Integer()
    domain = ma.fields.String()
    from_domain = ma.fields.String()
    ips = ma.fields.List(ma.fields.String())
    dkim_selectors = ma.fields.List(ma.fields.String())
    helo = ma.fields.String(allow_none=True)
    profile = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    created_by = ma.fields.String()
    latest_verdict = ma.fields.Method("get_latest_verdict", allow_none=True)

    def get_latest_verdict(self, sender: Sender) -> str | None:
        return sender.audits[0].verdict if sender.audits else None


class AuditSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    sender_id = ma.fields.Integer()
    started_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime()
    verdict = ma.fields.String()
    profile = ma.fields.String()
    trigger = ma.fields.String()
    actor = ma.fields.String()
    dns_lookups = ma.fields.Integer()


class AuditSchema(AuditSummarySchema):
    result = ma.fields.Dict(
        metadata={"description": "The audit: domain, verdict, findings, spf, dkim, dmarc, ips"}
    )
    drift = ma.fields.Dict(allow_none=True)


class HistoryQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


def _sender(session: Any, key: str) -> Sender:
    try:
        return senders.get_sender(session, key)
    except senders.UnknownSender as exc:
        raise ApiProblem(404, str(exc)) from None


@blp.route("", methods=["POST"])
@blp.arguments(SenderCreateSchema)
@blp.response(201, SenderSchema)
@requires("marketer", "admin")
def create_sender(body: dict[str, Any]) -> Sender:
    """Register a sender (domain, fixed IPs, DKIM selectors, HELO name)."""
    if body["profile"] not in profile_names():
        raise ApiProblem(
            422,
            f"unknown profile {body['profile']!r}",
            errors=[{"field": "profile", "message": f"one of {', '.join(profile_names())}"}],
        )
    try:
        spec = SenderSpec(
            domain=body["domain"],
            ips=body["ips"],
            dkim_selectors=body["dkim_selectors"],
            helo=body["helo"],
            from_domain=body["from_domain"],
        )
    except AuditorError as exc:
        raise ApiProblem(422, str(exc)) from None
    session = request_session()
    try:
        sender = senders.register_sender(session, spec, actor=actor_name(), profile=body["profile"])
    except senders.SenderExists as exc:
        raise ApiProblem(409, str(exc)) from None
    record_action("sender.register", target=f"sender:{sender.domain}")
    return sender


@blp.route("")
@blp.response(200, SenderSchema(many=True))
@requires(*READERS)
def list_senders() -> list[Sender]:
    """All registered senders with the verdict of their latest audit."""
    return senders.list_senders(request_session())


@blp.route("/<sender_key>")
@blp.response(200, SenderSchema)
@requires(*READERS)
def get_sender(sender_key: str) -> Sender:
    """One sender, by id or domain."""
    return _sender(request_session(), sender_key)


@blp.route("/<sender_key>/audits", methods=["POST"])
@blp.response(201, AuditSchema)
@requires("marketer", "compliance", "admin")
def run_audit(sender_key: str) -> dict[str, Any]:
    """Audit the sender now against live DNS and store the result."""
    session = request_session()
    rt = runtime()
    try:
        recorded = senders.audit_registered(
            session,
            sender_key,
            resolver=rt.dns_resolver,
            dnsbl_zones=rt.settings.dnsbl_zones,
            trigger="api",
            actor=actor_name(),
        )
    except senders.UnknownSender as exc:
        raise ApiProblem(404, str(exc)) from None
    record_action(
        "sender.audit",
        target=f"sender:{recorded.audit.sender.domain}",
        details={"verdict": recorded.audit.verdict},
    )
    return _audit_body(recorded.audit, recorded.drift.to_dict() if recorded.drift else None)


def _audit_body(audit: StoredAudit, drift: dict[str, Any] | None = None) -> dict[str, Any]:
    fields = (
        "id",
        "sender_id",
        "started_at",
        "finished_at",
        "verdict",
        "profile",
        "trigger",
        "actor",
        "dns_lookups",
        "result",
    )
    return {**{name: getattr(audit, name) for name in fields}, "drift": drift}


@blp.route("/<sender_key>/audits")
@blp.arguments(HistoryQuerySchema, location="query")
@blp.response(200, AuditSummarySchema(many=True))
@requires(*READERS)
def audit_history(query: dict[str, Any], sender_key: str) -> list[StoredAudit]:
    """Stored audits of the sender, newest first (posture over time)."""
    session = request_session()
    return senders.audit_history(session, _sender(session, sender_key), limit=query["limit"])


@blp.route("/<sender_key>/audits/<int:audit_id>")
@blp.response(200, AuditSchema)
@requires(*READERS)
def get_audit(sender_key: str, audit_id: int) -> dict[str, Any]:
    """One stored audit with its full result."""
    session = request_session()
    sender = _sender(session, sender_key)
    audit = senders.get_audit(session, audit_id)
    if audit is None or audit.sender_id != sender.id:
        raise ApiProblem(404, f"sender {sender.domain} has no audit {audit_id}")
    return _audit_body(audit)
