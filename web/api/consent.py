"""API: consent events, texts, purposes, imports, subject lookups, proofs, erasure, the log."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest import Blueprint

from consent import (
    ConsentError,
    EventInput,
    Evidence,
    ImportFormatError,
    ImportJobRecord,
    ImportNotFound,
    InvalidInput,
    LedgerEmpty,
    SubjectNotFound,
    jsonable,
)
from web import imports as background_imports
from web.access import actor_name, record_action, requires
from web.problems import ApiProblem
from web.runtime import runtime

URL_PREFIX = "/consent"
blp = Blueprint("consent", __name__, description="Consent ledger")

WRITERS = ("marketer", "compliance", "admin")
OFFICERS = ("compliance", "admin")
MAX_BATCH = 10_000
MAX_IMPORT_WAIT = 55  # below the web server's request timeout


class EvidenceSchema(ma.Schema):
    text_id = ma.fields.Integer(load_default=None)
    text_version = ma.fields.String(load_default=None)
    text_language = ma.fields.String(load_default=None)
    form_url = ma.fields.Url(load_default=None, require_tld=False)
    ip = ma.fields.IP(load_default=None)
    user_agent = ma.fields.String(load_default=None, validate=ma.validate.Length(max=1000))
    source = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    campaign_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


class EventSchema(ma.Schema):
    email = ma.fields.String(
        required=True, metadata={"description": "Email address, or the subject id (64-hex HMAC)"}
    )
    purpose = ma.fields.String(required=True)
    action = ma.fields.String(
        required=True,
        metadata={"description": "requested, confirmed, granted, withdrawn or expired"},
    )
    method = ma.fields.String(
        required=True,
        metadata={
            "description": "double-opt-in, form, import, api, one-click-unsubscribe, complaint, "
            "hard-bounce or admin"
        },
    )
    evidence = ma.fields.Nested(EvidenceSchema, load_default=dict)
    occurred_at = ma.fields.AwareDateTime(load_default=None)
    name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=300))


class EventBatchSchema(ma.Schema):
    events = ma.fields.List(
        ma.fields.Nested(EventSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BATCH),
    )


class RecordedEventSchema(ma.Schema):
    seq = ma.fields.Integer()
    subject = ma.fields.String()
    purpose = ma.fields.String(allow_none=True)
    action = ma.fields.String()
    method = ma.fields.String()
    leaf_hash = ma.fields.String()
    occurred_at = ma.fields.DateTime()
    recorded_at = ma.fields.DateTime()


class RecordedBatchSchema(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(RecordedEventSchema))


class TextCreateSchema(ma.Schema):
    purpose = ma.fields.String(required=True)
    version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    language = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=35))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100_000))


class TextSchema(ma.Schema):
    id = ma.fields.Integer()
    purpose = ma.fields.String()
    version = ma.fields.String()
    language = ma.fields.String()
    body = ma.fields.String()
    sha256 = ma.fields.String()
    created_at = ma.fields.DateTime()


class TextQuerySchema(ma.Schema):
    purpose = ma.fields.String(load_default=None)


class PurposeSchema(ma.Schema):
    name = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$")
    )
    description = ma.fields.String(load_default="")
    repermission_months = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=240)
    )


class ImportFormSchema(ma.Schema):
    purpose = ma.fields.String(required=True)
    check_deliverability = ma.fields.Boolean(load_default=False)
    wait = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=MAX_IMPORT_WAIT),
        metadata={
            "description": "Seconds to wait for the import to finish before answering "
            f"(0 to {MAX_IMPORT_WAIT}); a finished import answers 200, one still running 202"
        },
    )


class ImportFileSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportProgressSchema(ma.Schema):
    lines = ma.fields.Integer(metadata={"description": "Data lines in the file"})
    lines_read = ma.fields.Integer(metadata={"description": "Data lines settled so far"})


class RejectedRowSchema(ma.Schema):
    line = ma.fields.Integer()
    reason = ma.fields.String()


class ImportJobSchema(ma.Schema):
    id = ma.fields.String()
    purpose = ma.fields.String()
    status = ma.fields.String(metadata={"description": "queued, running, done or failed"})
    progress = ma.fields.Nested(ImportProgressSchema)
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    without_evidence = ma.fields.Integer()
    rejected_count = ma.fields.Integer()
    rejected = ma.fields.List(
        ma.fields.Nested(RejectedRowSchema),
        metadata={
            "description": f"The first {background_imports.REJECTED_SHOWN} rejected rows; "
            "all of them under /imports/<id>/rejections"
        },
    )
    ignored_columns = ma.fields.List(ma.fields.String())
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.String()
    started_at = ma.fields.String(allow_none=True)
    finished_at = ma.fields.String(allow_none=True)


class PageSchema(ma.Schema):
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0))
    limit = ma.fields.Integer(load_default=1000, validate=ma.validate.Range(min=1, max=10_000))


class EraseSchema(ma.Schema):
    reason = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=5, max=2000),
        metadata={"description": "Why (e.g. the data-subject request id)"},
    )


class EligibilityRequestSchema(ma.Schema):
    purpose = ma.fields.String(required=True)
    addresses = ma.fields.List(
        ma.fields.String(), required=True, validate=ma.validate.Length(min=1, max=1_000_000)
    )
    allow_without_evidence = ma.fields.Boolean(load_default=False)


def _invalid(exc: InvalidInput) -> ApiProblem:
    return ApiProblem(422, str(exc), errors=[{"field": exc.field, "message": exc.message}])


def _event_input(item: dict[str, Any]) -> EventInput:
    evidence = Evidence(
        **{k: (str(v) if k == "ip" and v is not None else v) for k, v in item["evidence"].items()}
    )
    return EventInput(
        address=item["email"],
        purpose=item["purpose"],
        action=item["action"],
        method=item["method"],
        evidence=evidence,
        occurred_at=item["occurred_at"],
        actor=actor_name(),
        name=item["name"],
    )


@blp.route("/events", methods=["POST"])
@blp.arguments(EventSchema)
@blp.response(201, RecordedEventSchema)
@requires(*WRITERS)
def record_event(body: dict[str, Any]) -> Any:
    """Append one consent event; answers with its ``seq`` and leaf hash."""
    try:
        return runtime().consent.record(_event_input(body))
    except InvalidInput as exc:
        raise _invalid(exc) from None


@blp.route("/events/batch", methods=["POST"])
@blp.arguments(EventBatchSchema)
@blp.response(201, RecordedBatchSchema)
@requires(*WRITERS)
def record_events(body: dict[str, Any]) -> dict[str, Any]:
    """Append a batch atomically: on any invalid event none is stored, and the error
    names it (``events[i].field``)."""
    batch = [_event_input(item) for item in body["events"]]
    try:
        return {"events": runtime().consent.record_many(batch)}
    except InvalidInput as exc:
        raise _invalid(exc) from None


@blp.route("/texts", methods=["POST"])
@blp.arguments(TextCreateSchema)
@blp.response(201, TextSchema)
@requires(*OFFICERS)
def add_text(body: dict[str, Any]) -> Any:
    """Record a new immutable version of a consent text (what people are shown)."""
    try:
        text = runtime().consent.add_consent_text(
            body["purpose"], body["version"], body["language"], body["body"]
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except ConsentError as exc:
        raise ApiProblem(409, str(exc)) from None
    record_action("consent.text.add", target=f"text:{text.purpose}/{text.version}/{text.language}")
    return text


@blp.route("/texts")
@blp.arguments(TextQuerySchema, location="query")
@blp.response(200, TextSchema(many=True))
@requires(*WRITERS)
def list_texts(query: dict[str, Any]) -> Any:
    """Consent text versions, optionally of one purpose."""
    return runtime().consent.consent_texts(query["purpose"])


@blp.route("/purposes")
@blp.response(200, PurposeSchema(many=True))
@requires(*WRITERS)
def list_purposes() -> Any:
    """Purposes consent can be given for, with their re-permission period."""
    return runtime().consent.purposes()


@blp.route("/purposes", methods=["POST"])
@blp.arguments(PurposeSchema)
@blp.response(201, PurposeSchema)
@requires(*OFFICERS)
def add_purpose(body: dict[str, Any]) -> Any:
    """Add a purpose (e.g. ``newsletter-de``) with an optional re-permission period."""
    try:
        purpose = runtime().consent.add_purpose(
            body["name"], body["description"], body["repermission_months"]
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except ConsentError as exc:
        raise ApiProblem(409, str(exc)) from None
    record_action("consent.purpose.add", target=f"purpose:{purpose.name}")
    return purpose


@blp.route("/imports", methods=["POST"])
@blp.arguments(ImportFormSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(202, ImportJobSchema)
@blp.alt_response(200, schema=ImportJobSchema, description="The import finished within `wait`")
@requires(*WRITERS)
def import_list(form: dict[str, Any], files: dict[str, Any]) -> Any:
    """Import a CSV list (multipart ``file``) in the background.

    The file's encoding and header are checked at once (422 naming the line);
    the rows are imported in batches, each all-or-nothing, while the caller polls
    ``Location``. Every rejected row is reported with its line number and reason.
    """
    rt = runtime()
    upload = files["file"]
    try:
        job = rt.imports.submit(
            upload.stream,
            form["purpose"],
            actor=actor_name(),
            check_deliverability=form["check_deliverability"],
        )
    except ImportFormatError as exc:
        raise ApiProblem(
            422, str(exc), errors=[{"field": "file", "line": exc.line, "message": exc.message}]
        ) from None
    except InvalidInput as exc:
        raise _invalid(exc) from None
    record_action(
        "consent.import",
        target=f"import:{job.id}",
        details={"purpose": form["purpose"], "lines": max(0, job.total_lines - 1)},
    )
    background_imports.start(rt, job.id, wait=form["wait"])
    job = rt.imports.get(job.id)
    location = url_for("consent.import_job", import_id=job.id)
    return _job_body(job), 200 if job.finished else 202, {"Location": location}


def _job_body(job: ImportJobRecord) -> dict[str, Any]:
    body = job.as_dict()
    rejected = runtime().imports.rejections(job.id, limit=background_imports.REJECTED_SHOWN)
    body["rejected"] = [{"line": r.line, "reason": r.reason} for r in rejected]
    return body


@blp.route("/imports")
@blp.response(200, ImportJobSchema(many=True))
@requires(*WRITERS)
def import_jobs() -> list[dict[str, Any]]:
    """The 50 most recent imports, newest first (without their rejected rows)."""
    return [job.as_dict() for job in runtime().imports.recent()]


@blp.route("/imports/<import_id>")
@blp.response(200, ImportJobSchema)
@requires(*WRITERS)
def import_job(import_id: str) -> dict[str, Any]:
    """One import: status, progress, counts and its first rejected rows."""
    try:
        return _job_body(runtime().imports.get(import_id))
    except ImportNotFound:
        raise ApiProblem(404, "no such import") from None


@blp.route("/imports/<import_id>/rejections")
@blp.arguments(PageSchema, location="query")
@blp.response(200, RejectedRowSchema(many=True))
@requires(*WRITERS)
def import_rejections(page: dict[str, int], import_id: str) -> list[dict[str, Any]]:
    """Rejected rows of an import in line order, a page at a time."""
    try:
        rows = runtime().imports.rejections(import_id, offset=page["offset"], limit=page["limit"])
    except ImportNotFound:
        raise ApiProblem(404, "no such import") from None
    return [{"line": r.line, "reason": r.reason} for r in rows]


def _subject_problem(exc: Exception) -> ApiProblem:
    if isinstance(exc, InvalidInput):
        return _invalid(exc)
    return ApiProblem(404, "the ledger holds nothing about this address")


@blp.route("/subjects/<path:email>")
@blp.response(200)
@requires(*OFFICERS)
def subject(email: str) -> dict[str, Any]:
    """Current state per purpose and the full timeline of one address."""
    try:
        timeline = runtime().consent.timeline(email)
    except (InvalidInput, SubjectNotFound) as exc:
        raise _subject_problem(exc) from None
    record_action("consent.subject.view", target=f"subject:{timeline.subject}")
    return jsonable(timeline)


@blp.route("/subjects/<path:email>/proof")
@blp.response(200)
@requires(*OFFICERS)
def subject_proof(email: str) -> dict[str, Any]:
    """A self-contained proof of the subject's events against a signed tree head; check it
    offline with ``python -m consent.verify proof.json``."""
    ledger = runtime().consent
    try:
        proof = ledger.proof(email)
    except (InvalidInput, SubjectNotFound) as exc:
        raise _subject_problem(exc) from None
    except LedgerEmpty as exc:
        raise ApiProblem(404, str(exc)) from None
    record_action("consent.proof", target=f"subject:{ledger.subject_id(email)}")
    return proof


@blp.route("/subjects/<path:email>/erasure", methods=["POST"])
@blp.arguments(EraseSchema)
@blp.response(200, RecordedEventSchema)
@requires(*OFFICERS)
def erase_subject(body: dict[str, Any], email: str) -> Any:
    """Erase a person (GDPR Art. 17): their key is destroyed, ``erased`` is recorded and
    the address stays suppressed so it is never imported again."""
    ledger = runtime().consent
    try:
        subject_id = ledger.subject_id(email)
        event = ledger.erase(email, actor=actor_name())
    except (InvalidInput, SubjectNotFound) as exc:
        raise _subject_problem(exc) from None
    if event is None:
        raise ApiProblem(409, "this address was erased already")
    record_action("consent.erase", target=f"subject:{subject_id}", reason=body["reason"])
    return event


@blp.route("/eligibility", methods=["POST"])
@blp.arguments(EligibilityRequestSchema)
@blp.response(200)
@requires(*WRITERS)
def eligibility(body: dict[str, Any]) -> dict[str, Any]:
    """Which addresses may be mailed for a purpose, and why each other one may not."""
    try:
        result = runtime().consent.eligibility(
            body["addresses"],
            body["purpose"],
            allow_without_evidence=body["allow_without_evidence"],
        )
    except InvalidInput as exc:
        raise _invalid(exc) from None
    reasons: dict[str, int] = {}
    for reason in result.excluded.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "purpose": result.purpose,
        "eligible": len(result.eligible),
        "excluded": len(result.excluded),
        "excluded_by_reason": reasons,
        "without_evidence": len(result.flagged),
    }


@blp.route("/ledger/head")
@blp.response(200)
@requires(*OFFICERS)
def tree_head() -> dict[str, Any]:
    """The latest signed tree head of the consent log."""
    try:
        return jsonable(runtime().consent.latest_tree_head())
    except LedgerEmpty as exc:
        raise ApiProblem(404, str(exc)) from None


@blp.route("/ledger/heads", methods=["POST"])
@blp.response(201)
@requires("admin")
def sign_tree_head() -> dict[str, Any]:
    """Sign the current log head now (also done hourly by the scheduler)."""
    return jsonable(runtime().consent.make_signed_tree_head())


@blp.route("/ledger/verification", methods=["POST"])
@blp.response(200)
@requires(*OFFICERS)
def verify_ledger() -> dict[str, Any]:
    """Recompute every leaf, the tree and every signed head; says where it first breaks."""
    result = runtime().consent.verify()
    return {
        "ok": result.ok,
        "size": result.size,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
        "tree_heads_checked": result.tree_heads_checked,
    }
