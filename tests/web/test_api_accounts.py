"""Bearer-token authentication, role rules, tokens and users over the API."""

from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import bearer


def test_whoami_with_a_token(client: FlaskClient, make_token) -> None:
    response = client.get("/api/v1/me", headers=bearer(make_token("compliance")))
    assert response.status_code == 200
    assert response.get_json()["role"] == "compliance"


def test_bad_credentials_all_look_the_same(client: FlaskClient, make_token) -> None:
    good = make_token("marketer")
    prefix, public_id, secret = good.split("_", 2)
    variants = [
        f"{prefix}_{public_id}_{'x' * len(secret)}",  # right id, wrong secret
        f"{prefix}_ffffffffffff_{secret}",  # unknown id
        "garbage",
    ]
    bodies = set()
    for value in variants:
        response = client.get("/api/v1/me", headers=bearer(value))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        bodies.add(response.get_json()["detail"])
    assert bodies == {"invalid credentials"}
    basic = client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_roles_are_enforced(client: FlaskClient, make_token) -> None:
    marketer = make_token("marketer")
    assert client.get("/api/v1/users", headers=bearer(marketer)).status_code == 403
    assert client.get("/api/v1/audit-log", headers=bearer(marketer)).status_code == 403
    assert (
        client.get("/api/v1/audit-log", headers=bearer(make_token("compliance"))).status_code == 200
    )
    assert client.get("/api/v1/users", headers=bearer(make_token("admin"))).status_code == 200


def test_token_is_shown_once_and_stored_hashed(client: FlaskClient, make_token, app) -> None:
    auth = bearer(make_token("marketer"))
    created = client.post(
        "/api/v1/tokens", json={"name": "crm sync", "expires_in_days": 30}, headers=auth
    )
    assert created.status_code == 201
    value = created.get_json()["token"]
    assert client.get("/api/v1/me", headers=bearer(value)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=auth).get_json()
    assert all("token" not in row for row in listed)
    from sqlalchemy import text

    from web.runtime import runtime

    with runtime(app).database.session() as session:
        stored = " ".join(session.execute(text("SELECT secret_hash FROM api_tokens")).scalars())
    assert value.split("_", 2)[2] not in stored


def test_revoked_token_stops_working(client: FlaskClient, make_token) -> None:
    auth = bearer(make_token("marketer"))
    created = client.post("/api/v1/tokens", json={"name": "short-lived"}, headers=auth).get_json()
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 401


def test_users_cannot_revoke_each_others_tokens(client: FlaskClient, make_token) -> None:
    mine = bearer(make_token("marketer"))
    theirs = make_token("marketer").split("_")[1]
    assert client.delete(f"/api/v1/tokens/{theirs}", headers=mine).status_code == 404


def test_admin_creates_and_disables_users(client: FlaskClient, make_token) -> None:
    admin = bearer(make_token("admin"))
    created = client.post(
        "/api/v1/users", json={"username": "carol", "role": "compliance"}, headers=admin
    )
    assert created.status_code == 201
    assert len(created.get_json()["one_time_password"]) >= 12
    duplicate = client.post(
        "/api/v1/users", json={"username": "carol", "role": "marketer"}, headers=admin
    )
    assert duplicate.status_code == 409
    bad_role = client.post(
        "/api/v1/users", json={"username": "dave", "role": "root"}, headers=admin
    )
    assert bad_role.status_code == 422
    assert bad_role.get_json()["errors"][0]["field"] == "role"
    assert (
        client.patch("/api/v1/users/carol", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert (
        client.patch("/api/v1/users/nobody", json={"active": False}, headers=admin).status_code
        == 404
    )


def test_disabling_a_user_revokes_its_tokens(client: FlaskClient, make_token) -> None:
    admin = bearer(make_token("admin"))
    victim = make_token("marketer")
    username = client.get("/api/v1/me", headers=bearer(victim)).get_json()["username"]
    client.patch(f"/api/v1/users/{username}", json={"active": False}, headers=admin)
    assert client.get("/api/v1/me", headers=bearer(victim)).status_code == 401
    client.patch(f"/api/v1/users/{username}", json={"active": True}, headers=admin)
    assert client.get("/api/v1/me", headers=bearer(victim)).status_code == 401


def test_audit_log_records_who_did_what(client: FlaskClient, make_token) -> None:
    admin = bearer(make_token("admin"))
    client.post("/api/v1/users", json={"username": "erin", "role": "marketer"}, headers=admin)
    entries = client.get("/api/v1/audit-log?limit=50", headers=admin).get_json()
    actions = {(e["action"], e["target"]) for e in entries}
    assert ("user.create", "user:erin") in actions
    creator = next(e for e in entries if e["target"] == "user:erin")
    assert creator["actor"].startswith("admin")
