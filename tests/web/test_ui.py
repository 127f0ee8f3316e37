"""Password sign-in, CSRF, cookie flags and login throttling in the UI."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from web import create_app

from .conftest import csrf_token, login, make_settings


def test_sign_in_and_out(client: FlaskClient, make_user) -> None:
    username, password = make_user("mia", "marketer")
    response = login(client, username, password)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")
    assert "mia" in client.get("/dashboard").get_data(as_text=True)
    token = csrf_token(client, "/dashboard")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/dashboard").status_code == 302


def test_session_cookie_flags(client: FlaskClient, make_user) -> None:
    response = login(client, *make_user("kim", "marketer"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-http development URL


def test_cookie_is_secure_behind_tls(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, base_url="https://gate.example.com"))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_and_unknown_user_look_the_same(client: FlaskClient, make_user) -> None:
    make_user("noor", "marketer")
    wrong = login(client, "noor", "not the password!")
    unknown = login(client, "nobody-here", "not the password!")
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid user name or password." in wrong.get_data(as_text=True)
    assert "Invalid user name or password." in unknown.get_data(as_text=True)


def test_forms_need_a_csrf_token(client: FlaskClient, make_user) -> None:
    username, password = make_user("omar", "marketer")
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 302  # not signed in


def test_login_is_throttled_per_account(client: FlaskClient, make_user) -> None:
    username, password = make_user("pat", "marketer")
    for i in range(5):
        login(client, username, "wrong password!", environ={"REMOTE_ADDR": f"10.0.0.{i}"})
    # Even the right password from a fresh address is refused while throttled.
    response = login(client, username, password, environ={"REMOTE_ADDR": "10.0.1.1"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_login_is_throttled_per_client_address(client: FlaskClient, make_user) -> None:
    username, password = make_user("quinn", "marketer")
    for i in range(5):
        login(client, f"ghost{i}", "wrong password!", environ={"REMOTE_ADDR": "10.9.9.9"})
    assert login(client, username, password, environ={"REMOTE_ADDR": "10.9.9.9"}).status_code == 429
    assert login(client, username, password, environ={"REMOTE_ADDR": "10.9.9.8"}).status_code == 302


def test_one_time_password_must_be_changed(client: FlaskClient, app) -> None:
    from web import accounts
    from web.runtime import runtime

    with runtime(app).database.session() as session:
        _, one_time = accounts.create_user(session, "rui", "admin")
    response = login(client, "rui", one_time)
    assert response.headers["Location"].endswith("/account/password")
    token = csrf_token(client, "/account/password")
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": one_time,
            "new": "a much better passphrase",
            "repeat": "a much better passphrase",
        },
    )
    assert changed.status_code == 302
    client.get("/dashboard")
    fresh = create_app(runtime(app).settings).test_client()
    assert login(fresh, "rui", one_time).status_code == 401
    assert login(fresh, "rui", "a much better passphrase").status_code == 302


def test_role_pages(client: FlaskClient, make_user) -> None:
    login(client, *make_user("sam", "marketer"))
    assert client.get("/users").headers["Location"].endswith("/forbidden")
    assert client.get("/tokens").status_code == 200


def test_admin_creates_a_user_in_the_ui(client: FlaskClient, make_user) -> None:
    login(client, *make_user("tess", "admin"))
    token = csrf_token(client, "/users")
    page = client.post(
        "/users", data={"csrf_token": token, "username": "uma", "role": "compliance"}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "One-time password" in text
    assert "uma" in text


def test_open_redirect_after_login_is_refused(client: FlaskClient, make_user) -> None:
    username, password = make_user("vic", "marketer")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=//evil.example/",
        data={"username": username, "password": password, "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/dashboard")
