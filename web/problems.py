"""RFC 9457 problem details for every error under ``/api/``.

Each problem has a stable ``type`` URI (``/problems/<slug>`` relative to the
service) that clients may switch on; ``detail`` says what was wrong and,
where there is one, ``errors`` lists the fields at fault.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from db import is_unavailable_error

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Stable slugs per status; specific errors may pass their own.
DEFAULT_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}


class ApiProblem(Exception):
    """Raise from an API view to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or DEFAULT_SLUGS.get(status, "error")
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{slug or DEFAULT_SLUGS.get(status, 'error')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    body.update(extensions)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_MEDIA_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_problem() -> bool:
    return request.path.startswith("/api/")


def _field_errors(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten marshmallow's nested messages into [{"field": "a.b", "message": ...}]."""
    errors: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in {"json", "form", "query", "files", "headers", "path"} and not prefix:
                errors.extend(_field_errors(value, ""))
            else:
                errors.extend(_field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        errors.append({"field": prefix or None, "message": " ".join(messages)})
    elif isinstance(messages, list):
        for index, item in enumerate(messages):
            errors.extend(_field_errors(item, f"{prefix}[{index}]"))
    else:
        errors.append({"field": prefix or None, "message": str(messages)})
    return errors


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem) -> Response:
        return problem_response(
            exc.status,
            exc.detail,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.errorhandler(HTTPException)
    def _http_exception(exc: HTTPException) -> Response | HTTPException:
        if not wants_problem():
            return exc
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        errors = _field_errors(data["messages"]) if "messages" in data else None
        detail = exc.description or HTTPStatus(status).description
        if status == 404 and not errors:
            detail = f"no API resource at {request.path}"
        if errors:
            detail = "; ".join(
                f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
            )
        return problem_response(status, detail, errors=errors)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if is_unavailable_error(exc):
            # Fail closed and say so: the client may retry, nothing was half-done.
            app.logger.error("database unavailable on %s %s", request.method, request.path)
            if wants_problem():
                return problem_response(
                    503, "the database is unavailable; retry later", headers={"Retry-After": "30"}
                )
            return Response("Service unavailable", status=503, mimetype="text/plain")
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_problem():
            return problem_response(500, "the server failed to answer; the error was logged")
        return Response("Internal server error", status=500, mimetype="text/plain")
