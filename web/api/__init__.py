"""The JSON API under ``/api/v1``: one flask-smorest blueprint per area, one OpenAPI document.

The OpenAPI 3 document at ``/api/v1/openapi.json`` is generated from the views'
schemas and decorators, so it cannot drift from the code.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from web.api import accounts, consent, senders, templates

API_PREFIX = "/api/v1"

# Areas register here; each module exposes `blp`, a flask_smorest.Blueprint.
AREAS = [accounts, consent, senders, templates]


def init_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="sendgate",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Compliance and deliverability gate for marketing email. "
                "Authenticate with `Authorization: Bearer <token>`; errors are RFC 9457 "
                "problem documents.",
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    api = Api(app)
    for area in AREAS:
        api.register_blueprint(area.blp, url_prefix=f"{API_PREFIX}{area.URL_PREFIX}")
    return api
