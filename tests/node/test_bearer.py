"""API authentication: bearer tokens, expiry, revocation, disabled accounts, scopes."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from node.accounts.models import Account
from node.auth.models import Token
from node.grants.models import Role
from node.tenants.scoping import all_tenants, tenant_context


def test_missing_and_malformed_tokens_are_401_with_a_challenge(client, world):
    world.tenant()
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}):
        r = client.get("/api/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.headers["Content-Type"] == "application/problem+json"


def test_expired_and_revoked_tokens_are_refused(client, world, session):
    t = world.tenant()
    account = world.account(t, [(Role.member, world.root(t))])
    headers = world.token(account)
    assert client.get("/api/me", headers=headers).status_code == 200
    with all_tenants():
        token = session.scalars(sa.select(Token).where(Token.account_id == account.id)).one()
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.commit()
    assert client.get("/api/me", headers=headers).status_code == 401
    with all_tenants():
        token = session.scalars(sa.select(Token).where(Token.account_id == account.id)).one()
        token.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        token.revoked_at = dt.datetime.now(dt.UTC)
        session.commit()
    assert client.get("/api/me", headers=headers).status_code == 401


def test_disabled_accounts_lose_api_access(client, world, session):
    t = world.tenant()
    account = world.account(t, [(Role.member, world.root(t))])
    headers = world.token(account)
    with tenant_context(t.id):
        session.get(Account, account.id).is_active = False
        session.commit()
    assert client.get("/api/me", headers=headers).status_code == 401


def test_read_only_tokens_cannot_write(client, world):
    t = world.tenant()
    root = world.root(t)
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]), scope="read")
    assert client.get("/api/orgs", headers=headers).status_code == 200
    r = client.post("/api/orgs", headers=headers,
                    json={"parent_id": root.id, "kind": "branch", "name": "x"})
    assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]


def test_public_endpoints_need_no_token(client, world):
    assert client.get("/api/version").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"/api/vendor/swagger-ui/swagger-ui-bundle.js" in page.data
    asset = client.get("/api/vendor/swagger-ui/swagger-ui-bundle.js")  # from npm, not a CDN
    assert asset.status_code == 200 and len(asset.data) > 100_000
    assert client.get("/api/vendor/other/x.js").status_code == 404
    assert client.get("/healthz").json == {"status": "ok", "checks": {}}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["checks"] == {"database": "ok", "migrations": "ok"}



def test_client_address_comes_from_a_trusted_proxy_only(world, session, client, database_url,
                                                        node_settings_factory):
    from node.app import create_app
    from node.audit.models import AuditEntry

    proxied = create_app(node_settings_factory(database_url, trusted_proxies=1)).test_client()
    t = world.tenant()
    root = world.root(t)
    headers = {**world.token(world.account(t, [(Role.tenant_admin, root)])),
               "X-Forwarded-For": "198.51.100.7"}
    for app_client, expected in ((proxied, "198.51.100.7"), (client, "127.0.0.1")):
        r = app_client.post("/api/orgs", headers=headers,
                            json={"parent_id": root.id, "kind": "branch", "name": expected})
        assert r.status_code == 201
        with tenant_context(t.id):
            entry = session.scalars(sa.select(AuditEntry).where(
                AuditEntry.entity_id == r.json["id"], AuditEntry.entity_type == "org")).one()
        assert entry.remote_addr == expected
