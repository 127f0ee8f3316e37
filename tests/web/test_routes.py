"""Every route declares its access rule; API errors are problem+json; OpenAPI is generated."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from web.access import PUBLIC, access_rule

from .conftest import bearer

# Endpoints served by frameworks, not by our views, with the reason they are open.
FRAMEWORK_ENDPOINTS = {
    "static": "stylesheets and scripts of the UI",
    "api-docs.openapi_json": "the API description is public by design",
}


def test_every_route_declares_who_may_call_it(app: Flask) -> None:
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        declared = access_rule(view)
        if declared is None:
            undeclared.append(f"{rule.rule} -> {rule.endpoint}")
        elif rule.rule.startswith("/api/"):
            # Public API endpoints are the exception and must be deliberate.
            assert declared != PUBLIC or rule.endpoint.startswith("public"), rule.rule
    assert not undeclared, "routes without @requires/@public: " + ", ".join(undeclared)


def test_unknown_api_route_is_problem_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "/problems/not-found"
    assert body["status"] == 404
    assert "/api/v1/does-not-exist" in body["detail"]


def test_wrong_method_on_api_is_problem_json(client: FlaskClient, make_token) -> None:
    response = client.put("/api/v1/me", headers=bearer(make_token("marketer")))
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"


def test_validation_errors_name_the_field(client: FlaskClient, make_token) -> None:
    response = client.post(
        "/api/v1/tokens", json={"expires_in_days": 0}, headers=bearer(make_token("marketer"))
    )
    assert response.status_code == 422
    body = response.get_json()
    fields = {e["field"] for e in body["errors"]}
    assert {"name", "expires_in_days"} <= fields
    assert body["type"] == "/problems/validation-failed"


def test_openapi_document_is_generated_from_the_views(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/me" in doc["paths"]
    assert "post" in doc["paths"]["/api/v1/tokens"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readiness_fails_when_the_database_is_unreachable(tmp_path) -> None:
    from web import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path, "postgresql+psycopg://u:pw@127.0.0.1:1/gone"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
    assert app.test_client().get("/healthz").status_code == 200


def test_api_answers_503_problem_when_the_database_is_gone(tmp_path) -> None:
    from web import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path, "postgresql+psycopg://u:pw@127.0.0.1:1/gone"))
    response = app.test_client().get("/api/v1/me", headers=bearer("sg_abc_def"))
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "pw" not in response.get_data(as_text=True)
