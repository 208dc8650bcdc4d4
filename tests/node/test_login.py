"""Browser sign-in per tenant: session, CSRF, throttling, logout, tenant separation."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from node.accounts.models import Account, LoginFailure
from node.auth.routes import current_session_account
from node.tenants.scoping import tenant_context

_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


@pytest.fixture(autouse=True)
def english(client: Any) -> None:
    """These tests read the English messages (pages are in Chinese by default)."""
    client.set_cookie("lang", "en")


def _login_page(client: Any, slug: str, **query: str) -> tuple[Any, str]:
    page = client.get(f"/t/{slug}/login", query_string=query)
    assert page.status_code == 200
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return page, match.group(1)


def _sign_in(client: Any, slug: str, username: str, password: str, **extra: str) -> Any:
    _page, csrf = _login_page(client, slug)
    return client.post(f"/t/{slug}/login", data={"csrf_token": csrf, "username": username,
                                                 "password": password, **extra})


def _session(client: Any) -> dict[str, Any]:
    with client.session_transaction() as sess:
        return dict(sess)


def _failures(session: Any, key: str) -> int:
    row = session.get(LoginFailure, key)
    return row.failures if row is not None else 0


def test_login_page_has_a_form_with_a_csrf_token(client, world):
    tenant = world.tenant()
    page, csrf = _login_page(client, tenant.slug)

    assert tenant.name in page.text
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert csrf == _session(client)["csrf"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in page.headers["Cache-Control"]


def test_sign_in_starts_a_fresh_session(client, world):
    tenant = world.tenant()
    account = world.account(tenant, username="carol", password="carol-password-1")
    _page, csrf_before = _login_page(client, tenant.slug)
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"

    response = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_before, "username": "carol", "password": "carol-password-1"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/t/{tenant.slug}/login"
    state = _session(client)
    assert state["account_id"] == account.id and state["tenant_id"] == tenant.id
    assert "planted" not in state  # session fixation: nothing from before sign-in survives
    assert state["csrf"] != csrf_before
    page = client.get(f"/t/{tenant.slug}/login")
    assert "signed in as" in page.text and "carol" in page.text


def test_current_session_account_follows_the_session(client, world, session):
    tenant = world.tenant()
    account = world.account(tenant, username="dave", password="dave-password-1")
    assert _sign_in(client, tenant.slug, "dave", "dave-password-1").status_code == 303

    with client:
        client.get(f"/t/{tenant.slug}/login")
        signed_in = current_session_account()
        assert signed_in is not None and signed_in.id == account.id
    with tenant_context(tenant.id):
        session.execute(sa.update(Account).where(Account.id == account.id)
                        .values(is_active=False))
        session.commit()
    with client:
        page = client.get(f"/t/{tenant.slug}/login")
        assert current_session_account() is None  # disabled since: no longer signed in
        assert 'name="password"' in page.text


def test_wrong_password_shows_an_error_and_counts(client, world, session):
    tenant = world.tenant()
    world.account(tenant, username="erin", password="erin-password-1")

    response = _sign_in(client, tenant.slug, "erin", "not-erins-password")

    assert response.status_code == 200
    assert "Wrong username or password" in response.text
    assert 'value="erin"' in response.text  # the username is kept, the password is not
    assert "account_id" not in _session(client)
    assert _failures(session, f"account:{tenant.id}:erin") == 1
    assert _failures(session, "addr:127.0.0.1") == 1


def test_unknown_username_looks_like_a_wrong_password(client, world):
    tenant = world.tenant()
    response = _sign_in(client, tenant.slug, "nobody", "whatever-password")
    assert response.status_code == 200
    assert "Wrong username or password" in response.text


def test_too_many_failures_are_throttled_with_a_readable_page(client, world, app):
    tenant = world.tenant()
    world.account(tenant, username="frank", password="frank-password-1")
    limit = app.extensions["node"].login_max_failures
    for _ in range(limit):
        assert _sign_in(client, tenant.slug, "frank", "guess-password").status_code == 200

    response = _sign_in(client, tenant.slug, "frank", "frank-password-1")  # even the right one

    assert response.status_code == 429
    assert "text/html" in response.headers["Content-Type"]
    assert "Too many failed sign-in attempts" in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "account_id" not in _session(client)


def test_sign_in_without_a_valid_csrf_token_is_refused(client, world, session):
    tenant = world.tenant()
    world.account(tenant, username="gina", password="gina-password-1")
    _login_page(client, tenant.slug)
    form = {"username": "gina", "password": "gina-password-1"}

    missing = client.post(f"/t/{tenant.slug}/login", data=form)
    wrong = client.post(f"/t/{tenant.slug}/login", data={**form, "csrf_token": "forged"})

    for response in (missing, wrong):
        assert response.status_code == 400
        assert "text/html" in response.headers["Content-Type"]
        assert "The form has expired" in response.text
    assert "account_id" not in _session(client)
    assert _failures(session, "addr:127.0.0.1") == 0  # refused before any password check


def test_logout_clears_the_session(client, world):
    tenant = world.tenant()
    world.account(tenant, username="hank", password="hank-password-1")
    assert _sign_in(client, tenant.slug, "hank", "hank-password-1").status_code == 303
    csrf = _session(client)["csrf"]

    refused = client.post("/logout")
    assert refused.status_code == 400
    assert "account_id" in _session(client)  # no CSRF token: a forged logout does nothing

    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/t/{tenant.slug}/login"
    assert _session(client) == {}


def test_a_disabled_account_cannot_sign_in(client, world, session):
    tenant = world.tenant()
    account = world.account(tenant, username="ivy", password="ivy-password-1")
    with tenant_context(tenant.id):
        session.execute(sa.update(Account).where(Account.id == account.id)
                        .values(is_active=False))
        session.commit()

    response = _sign_in(client, tenant.slug, "ivy", "ivy-password-1")

    assert response.status_code == 200
    assert "Wrong username or password" in response.text
    assert "account_id" not in _session(client)


def test_a_service_account_cannot_sign_in(client, world, session):
    tenant = world.tenant()
    account = world.account(tenant, username="svc-bot", password="bot-password-1")
    with tenant_context(tenant.id):
        session.execute(sa.update(Account).where(Account.id == account.id)
                        .values(is_service=True))
        session.commit()

    response = _sign_in(client, tenant.slug, "svc-bot", "bot-password-1")
    assert "account_id" not in _session(client)
    assert "Wrong username or password" in response.text


def test_credentials_of_another_tenant_do_not_sign_in(client, world):
    a, b = world.tenant(), world.tenant()
    world.account(a, username="jo", password="jo-password-in-a")
    world.account(b, username="jo", password="jo-password-in-b")
    world.account(b, username="only-in-b", password="only-b-password")

    assert "Wrong username" in _sign_in(client, a.slug, "jo", "jo-password-in-b").text
    assert "Wrong username" in _sign_in(client, a.slug, "only-in-b", "only-b-password").text
    assert "account_id" not in _session(client)

    assert _sign_in(client, a.slug, "jo", "jo-password-in-a").status_code == 303
    assert _session(client)["tenant_id"] == a.id


def test_a_session_of_one_tenant_is_not_signed_in_at_another(client, world):
    a, b = world.tenant(), world.tenant()
    world.account(a, username="kim", password="kim-password-1")
    assert _sign_in(client, a.slug, "kim", "kim-password-1").status_code == 303

    page = client.get(f"/t/{b.slug}/login")
    assert 'name="password"' in page.text and "signed in as" not in page.text


@pytest.mark.parametrize(("next_url", "followed"), [
    ("/oauth/authorize?client_id=x&state=y", True),
    ("https://evil.example/", False),
    ("//evil.example/", False),
    ("/\\evil.example", False),
    ("javascript:alert(1)", False),
])
def test_next_is_followed_only_within_the_site(client, world, next_url, followed):
    tenant = world.tenant()
    world.account(tenant, username="lee", password="lee-password-1")

    response = _sign_in(client, tenant.slug, "lee", "lee-password-1", next=next_url)

    assert response.status_code == 303
    expected = next_url if followed else f"/t/{tenant.slug}/login"
    assert response.headers["Location"] == expected


@pytest.mark.parametrize("slug", ["no-such-tenant", "bad%00slug", "%E4%B8%AD"])
def test_unknown_tenant_is_a_readable_404(client, connection, slug):
    response = client.get(f"/t/{slug}/login")
    assert response.status_code == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "no organization at this address" in response.text


@pytest.mark.parametrize("form", [
    {"username": "x" * 5000, "password": "p"},
    {"username": "a\x00b", "password": "p"},
    {"username": "mo", "password": "p" * 100_000},
    {"username": "", "password": ""},
    {"username": "mo"},
], ids=["long-username", "nul-username", "huge-password", "empty", "no-password"])
def test_odd_sign_in_input_is_answered_without_error(client, world, form):
    tenant = world.tenant()
    _page, csrf = _login_page(client, tenant.slug)

    response = client.post(f"/t/{tenant.slug}/login", data={"csrf_token": csrf, **form})

    assert response.status_code in (200, 400)
    assert "text/html" in response.headers["Content-Type"]
    assert "account_id" not in _session(client)
