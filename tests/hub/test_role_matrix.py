"""The hub's authorization matrix, generated from the route map: every /api route and every
console page × anonymous, region viewer, auditor and administrator.

- anonymous: 401 on the API, a redirect to the sign-in page for pages;
- region viewers and auditors never write (403); region viewers read only what a view
  declares for them (`requires(HubRole.region_viewer)`) and the pages that need an account;
- administrators are never refused (what they get is 200, 404 for a made-up id, 422...);
- a refused request changes nothing.

A new endpoint is in the matrix as soon as it is routed; a new HTML page that is neither a
console page nor listed below as open fails `test_every_page_is_a_console_page_or_open`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from hub.accounts.models import HubAccount, HubRole
from hub.auth.bearer import PUBLIC_ENDPOINTS, READ_METHODS, declared_role
from hub.auth.models import HubToken
from hub.feed.models import FeedItem
from hub.nodes.models import EnrollmentToken, Node
from tests.hub.helpers import auth, bearer_token, csrf_of, hub_account, sign_in

#: Pages anyone may open: the portal, signing in and out, OAuth, health and metrics.
OPEN_ENDPOINTS = frozenset({
    "static", "vendor", "metrics.metrics", "meta.healthz", "meta.readyz", "hub_auth.login",
    "hub_auth.logout", "hub_oauth.authorize", "hub_oauth.token", "hub_oauth.revoke",
})
ROLES = (HubRole.region_viewer, HubRole.auditor, HubRole.administrator)
CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: Any) -> str:
    return CONVERTER.sub(lambda m: "999999" if m.group(1) == "int" else "no-such-thing",
                         rule.rule)


def _routes(app: Any, *, api: bool) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every API route not public, or of every console page."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if api and (not rule.rule.startswith("/api/") or rule.endpoint in PUBLIC_ENDPOINTS):
            continue
        if not api and getattr(view, "console_needs", None) is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, _url(rule)))
    return found


def _fingerprint(session: Any) -> tuple[Any, ...]:
    """What a refused request must not change."""
    count = sa.func.count()
    return (session.scalar(sa.select(count).select_from(HubAccount)),
            session.scalar(sa.select(count).where(HubAccount.is_active.is_(False))),
            session.scalar(sa.select(count).select_from(EnrollmentToken)),
            session.scalar(sa.select(count).where(EnrollmentToken.revoked_at.is_not(None))),
            session.scalar(sa.select(count).where(Node.status == "revoked")),
            session.scalar(sa.select(count).where(FeedItem.taken_down_at.is_not(None))))


def test_the_matrix_covers_the_hubs_api_and_console(app):
    api = {endpoint for endpoint, _m, _u in _routes(app, api=True)}
    pages = {endpoint for endpoint, _m, _u in _routes(app, api=False)}
    assert {"hub_accounts_api.HubAccounts", "quarantine.Release", "quarantine.Discard",
            "quarantine.Quarantine", "identity.Duplicates"} <= api
    assert {"console.home", "console.tokens", "console.issue_token", "console.release",
            "console.takedown", "console.revoke_node", "hub_accounts.create",
            "identity_console.duplicates"} <= pages


def test_every_page_is_a_console_page_or_open(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if (rule.rule.startswith("/api/") or rule.endpoint.startswith("portal.")
                or getattr(view, "console_needs", None) is not None):
            continue
        assert rule.endpoint in OPEN_ENDPOINTS, f"{rule.rule} is neither a console page nor open"


def test_anonymous_api_requests_need_a_token(app, client, session):
    before = _fingerprint(session)
    for endpoint, method, url in _routes(app, api=True):
        response = client.open(url, method=method, json={} if method == "POST" else None)
        assert response.status_code == 401, (endpoint, method, response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _fingerprint(session) == before


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_each_role_reaches_exactly_its_api(app, client, session, role):
    token = bearer_token(app, role)
    before = _fingerprint(session)
    wrong = []
    for endpoint, method, url in _routes(app, api=True):
        response = client.open(url, method=method, headers=auth(token),
                               json={} if method == "POST" else None)
        with app.app_context():
            needed = declared_role(endpoint, method) if method in READ_METHODS else None
        if role == HubRole.administrator:
            allowed = True
        elif method not in READ_METHODS:
            allowed = False
        else:
            allowed = role.at_least(needed or HubRole.auditor)
        if allowed != (response.status_code not in (401, 403)):
            wrong.append((endpoint, method, response.status_code))
    assert wrong == []
    if role != HubRole.administrator:
        assert _fingerprint(session) == before


def test_a_token_without_the_write_scope_never_writes(app, client, session):
    token = bearer_token(app, HubRole.administrator, scope="read")
    before = _fingerprint(session)
    for endpoint, method, url in _routes(app, api=True):
        if method in READ_METHODS:
            continue
        response = client.open(url, method=method, headers=auth(token), json={})
        assert response.status_code == 403, (endpoint, method, response.status_code)
        assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert _fingerprint(session) == before


def test_anonymous_visitors_are_sent_to_sign_in(app, client, session):
    before = _fingerprint(session)
    for endpoint, method, url in _routes(app, api=False):
        response = client.open(url, method=method)
        assert response.status_code == 303, (endpoint, method, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), endpoint
    assert _fingerprint(session) == before


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_each_role_opens_exactly_its_console_pages(app, client, session, role):
    hub_account(app, HubRole.administrator)  # never the last one: deactivation stays possible
    account = hub_account(app, role)
    assert sign_in(client, account.username).status_code == 303
    csrf = csrf_of(client, "/account/password")
    before = _fingerprint(session)
    needs = {"account": HubRole.region_viewer, "auditor": HubRole.auditor,
             "admin": HubRole.administrator}
    wrong = []
    for endpoint, method, url in _routes(app, api=False):
        response = client.open(url, method=method,
                               data={"csrf_token": csrf} if method == "POST" else None)
        page = app.view_functions[endpoint]
        allowed = role.at_least(needs[page.console_needs])
        if allowed != (response.status_code not in (401, 403)):
            wrong.append((endpoint, method, response.status_code))
        if not allowed:
            assert "<html" in response.get_data(as_text=True)  # a readable page
    assert wrong == []
    if role != HubRole.administrator:
        assert _fingerprint(session) == before
    assert session.scalar(sa.select(sa.func.count()).select_from(HubToken)) == 0
