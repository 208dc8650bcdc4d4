"""Signing in to the hub: the session, sign-out, throttling, CSRF, password changes."""

from __future__ import annotations

import re

from hub.accounts import services
from hub.accounts.models import HubAccount, HubRole
from hub.db import db
from shared.db.session import transaction
from tests.hub.helpers import PASSWORD, csrf_of, hub_account, sign_in


def test_an_account_signs_in_reaches_the_console_and_signs_out(app, client, session):
    account = hub_account(app, HubRole.auditor)
    first = client.get("/console/nodes")
    assert first.status_code == 303
    assert first.headers["Location"].startswith("/login?next=/console/nodes")
    token = csrf_of(client)
    signed = client.post("/login", data={"csrf_token": token, "username": account.username,
                                         "password": PASSWORD, "next": "/console/nodes"})
    assert signed.status_code == 303 and signed.headers["Location"] == "/console/nodes"
    page = client.get("/console/nodes")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert session.get(HubAccount, account.id).last_login_at is not None
    csrf = csrf_of(client, "/console/nodes")
    assert csrf != token  # a fresh session (and token) at sign-in
    out = client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert client.get("/console/nodes").status_code == 303


def test_the_session_cookie_is_http_only_and_secure_outside_debug(app, client):
    account = hub_account(app)
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        response = sign_in(client, account.username)
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_a_wrong_password_or_an_unknown_name_gets_the_same_answer(app, client):
    account = hub_account(app)
    wrong = sign_in(client, account.username, "not-the-password")
    unknown = sign_in(client, "nobody", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 303


def test_sign_in_is_throttled_and_the_throttle_is_kept_in_the_database(app, client, settings):
    account = hub_account(app)
    for _ in range(settings.login_max_failures):
        assert sign_in(client, account.username, "wrong-password-1").status_code == 200
    refused = sign_in(client, account.username, PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert client.get("/console").status_code == 303


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app, client, session):
    account = hub_account(app)
    no_token = client.post("/login", data={"username": account.username,
                                           "password": PASSWORD})
    assert no_token.status_code == 400
    assert session.get(HubAccount, account.id).last_login_at is None
    sign_in(client, account.username)
    forged = client.post("/console/accounts/new", data={
        "csrf_token": "forged", "username": "mallory", "display_name": "M", "role": "administrator",
        "password": PASSWORD, "confirm_password": PASSWORD})
    assert forged.status_code == 400 and "表单已过期" in forged.get_data(as_text=True)
    assert len(services.list_accounts()) == 1


def test_a_deactivated_account_is_signed_out_at_its_next_request(app, client):
    admin = hub_account(app)
    auditor = hub_account(app, HubRole.auditor)
    sign_in(client, auditor.username)
    assert client.get("/console").status_code == 200
    with transaction(db):  # (the test's copy of the row is detached by the requests)
        services.deactivate_account(services.get_account(auditor.id),
                                    by=services.principal_for(admin))
    assert client.get("/console").status_code == 303
    assert sign_in(client, auditor.username).status_code == 200  # refused: the page again


def test_changing_the_password_ends_the_other_sessions(app, client):
    account = hub_account(app, HubRole.auditor)
    other = app.test_client()
    sign_in(client, account.username)
    sign_in(other, account.username)
    token = csrf_of(client, "/account/password")
    wrong = client.post("/account/password", data={
        "csrf_token": token, "current_password": "wrong-one", "new_password": "new-password-123",
        "confirm_password": "new-password-123"})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    changed = client.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": "new-password-123",
        "confirm_password": "new-password-123"})
    assert changed.status_code == 200
    assert client.get("/console").status_code == 200  # this session goes on
    assert other.get("/console").status_code == 303  # the other one ended
    assert sign_in(other, account.username, "new-password-123").status_code == 303


def test_the_portal_stays_public_and_cacheable_for_anonymous_visitors(app, client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["Cache-Control"].startswith("public")
    assert re.search(r'href="/login"', page.get_data(as_text=True))
    account = hub_account(app)
    sign_in(client, account.username)
    signed = client.get("/")
    assert signed.headers["Cache-Control"] == "no-store"
    assert "/console" in signed.get_data(as_text=True)
