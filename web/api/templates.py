"""API: score a template (spam signals, regional and legal fit)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from rules import TemplateInput, parse_eml, score_template
from rules.regional import UnknownCountryError, validate_countries
from web.access import requires
from web.problems import ApiProblem

URL_PREFIX = "/templates"
blp = Blueprint("templates", __name__, description="Template scoring")

MAX_TEMPLATE_CHARS = 5 * 1024 * 1024


class ScoreRequestSchema(ma.Schema):
    subject = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))
    html = ma.fields.String(load_default=None, validate=ma.validate.Length(max=MAX_TEMPLATE_CHARS))
    text = ma.fields.String(load_default=None, validate=ma.validate.Length(max=MAX_TEMPLATE_CHARS))
    eml = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=MAX_TEMPLATE_CHARS),
        metadata={"description": "A whole RFC 5322 message instead of subject/html/text"},
    )
    countries = ma.fields.List(
        ma.fields.String(),
        load_default=list,
        metadata={"description": "ISO 3166-1 alpha-2 target countries"},
    )
    send_at = ma.fields.AwareDateTime(
        load_default=None, metadata={"description": "Planned send time with offset"}
    )

    @ma.validates_schema
    def _one_source(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("eml") and any(data.get(k) for k in ("html", "text")):
            raise ma.ValidationError("give either eml or html/text, not both", "eml")
        if not any(data.get(k) for k in ("eml", "html", "text", "subject")):
            raise ma.ValidationError(
                "nothing to score: give subject with html and/or text, or eml", "html"
            )


class LocationSchema(ma.Schema):
    part = ma.fields.String()
    start = ma.fields.Integer(allow_none=True)
    end = ma.fields.Integer(allow_none=True)


class HitSchema(ma.Schema):
    rule = ma.fields.String()
    weight = ma.fields.Float()
    message = ma.fields.String()
    evidence = ma.fields.String()
    location = ma.fields.Nested(LocationSchema, allow_none=True)
    remediation = ma.fields.String()


class FindingSchema(ma.Schema):
    code = ma.fields.String()
    severity = ma.fields.String()
    message = ma.fields.String()
    countries = ma.fields.List(ma.fields.String())
    law = ma.fields.String(allow_none=True)
    remediation = ma.fields.String()


class ScoreResultSchema(ma.Schema):
    score = ma.fields.Float()
    threshold = ma.fields.Float()
    verdict = ma.fields.String()
    language = ma.fields.String(allow_none=True)
    languages = ma.fields.List(ma.fields.String())
    hits = ma.fields.List(ma.fields.Nested(HitSchema))
    findings = ma.fields.List(ma.fields.Nested(FindingSchema))
    unchecked = ma.fields.List(ma.fields.String())


@blp.route("/score", methods=["POST"])
@blp.arguments(ScoreRequestSchema)
@blp.response(200, ScoreResultSchema)
@requires("marketer", "compliance", "admin")
def score(body: dict[str, Any]) -> dict[str, Any]:
    """Score a template: every hit explained and located, and the findings per country."""
    try:
        countries = validate_countries(body["countries"])
    except UnknownCountryError as exc:
        raise ApiProblem(
            422, str(exc), errors=[{"field": "countries", "message": str(exc)}]
        ) from None
    if body["eml"]:
        parsed = parse_eml(body["eml"].encode("utf-8", errors="surrogateescape"))
        template = TemplateInput(
            subject=body["subject"] if body["subject"] is not None else parsed.subject,
            html=parsed.html,
            text=parsed.text,
            headers=parsed.headers,
            countries=countries,
            send_at=body["send_at"],
        )
    else:
        template = TemplateInput(
            subject=body["subject"] or "",
            html=body["html"],
            text=body["text"],
            countries=countries,
            send_at=body["send_at"],
        )
    return score_template(template).to_dict()
