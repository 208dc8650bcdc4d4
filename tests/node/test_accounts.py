"""Accounts: creation by tier, paging, disabling, password changes (audited)."""

from __future__ import annotations

import sqlalchemy as sa

from node.accounts.services import authenticate
from node.audit.models import AuditEntry
from node.grants.models import Role
from node.tenants.scoping import tenant_context


def test_org_admin_creates_logins_for_own_members_only(world, client):
    t = world.tenant()
    root = world.root(t)
    b1, b2 = world.org(t, root, "branch"), world.org(t, root, "branch")
    secretary = world.token(world.account(t, [(Role.org_admin, b1)]))
    mine, theirs = world.member(t, b1), world.member(t, b2)
    payload = {"display_name": "x", "password": "a-long-password-1"}
    r = client.post("/api/accounts", headers=secretary,
                    json={**payload, "username": "mine", "member_id": mine.id})
    assert r.status_code == 201 and r.json["member_id"] == mine.id
    r = client.post("/api/accounts", headers=secretary,
                    json={**payload, "username": "theirs", "member_id": theirs.id})
    assert r.status_code == 422 and "member_id" in r.json["errors"]
    r = client.post("/api/accounts", headers=secretary, json={**payload, "username": "staff"})
    assert r.status_code == 403
    r = client.post("/api/accounts", headers=secretary,
                    json={**payload, "username": "again", "member_id": mine.id})
    assert r.status_code == 409


def test_accounts_are_paged(world, client):
    t = world.tenant()
    admin = world.token(world.account(t, [(Role.tenant_admin, world.root(t))]))
    for _ in range(4):
        world.account(t)
    seen, cursor = [], None
    while True:
        r = client.get("/api/accounts", headers=admin,
                       query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200 and len(r.json["items"]) <= 2
        seen += [a["id"] for a in r.json["items"]]
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6  # the tenant's admin, the caller and four more


def test_password_change_is_checked_and_audited(world, client, session):
    t = world.tenant()
    account = world.account(t, [(Role.member, world.root(t))], password="old-password-1")
    headers = world.token(account)
    r = client.post("/api/me/password", headers=headers,
                    json={"current_password": "wrong-password", "new_password": "new-password-2"})
    assert r.status_code == 422 and "current_password" in r.json["errors"]
    r = client.post("/api/me/password", headers=headers,
                    json={"current_password": "old-password-1", "new_password": "new-password-2"})
    assert r.status_code == 204
    with tenant_context(t.id):
        assert authenticate(tenant_id=t.id, username=account.username,
                            password="new-password-2", remote_addr=None, max_failures=5,
                            window=60) is not None
        actions = session.scalars(sa.select(AuditEntry.action)
                                  .where(AuditEntry.entity_id == account.id,
                                         AuditEntry.entity_type == "account")).all()
    assert "account.password_change" in actions


def test_disabling_needs_authority_over_every_role_held(world, client):
    t = world.tenant()
    root = world.root(t)
    b1 = world.org(t, root, "branch")
    secretary = world.token(world.account(t, [(Role.org_admin, b1)]))
    plain = world.account(t, member=world.member(t, b1))
    boss = world.account(t, [(Role.tenant_admin, root)], member=world.member(t, b1))
    r = client.patch(f"/api/accounts/{plain.id}", headers=secretary, json={"is_active": False})
    assert r.status_code == 200 and r.json["is_active"] is False
    r = client.patch(f"/api/accounts/{boss.id}", headers=secretary, json={"is_active": False})
    assert r.status_code == 403


def test_linking_an_account_to_a_member(world, client, session):
    t, other = world.tenant(), world.tenant()
    root = world.root(t)
    b1, b2 = world.org(t, root, "branch"), world.org(t, root, "branch")
    admin = world.token(world.account(t, [(Role.tenant_admin, root)]))
    secretary = world.token(world.account(t, [(Role.org_admin, b1)]))
    login = world.account(t, member=world.member(t, b1))
    free, taken, theirs = world.member(t, b1), world.member(t, b1), world.member(t, b2)
    world.account(t, member=taken)
    outsider = world.member(other, world.root(other))
    url = f"/api/accounts/{login.id}"
    r = client.patch(url, headers=secretary, json={"member_id": free.id})
    assert r.status_code == 200 and r.json["member_id"] == free.id
    for member_id, status in ((taken.id, 409), (theirs.id, 422), (outsider.id, 422),
                              (999999, 422)):
        r = client.patch(url, headers=secretary, json={"member_id": member_id})
        assert r.status_code == status, (member_id, r.json)
        assert "member_id" in r.json.get("errors", {}) or status == 409
    assert client.get(url, headers=admin).json["member_id"] == free.id
    assert client.patch(url, headers=admin, json={}).status_code == 422
    # Unlinking (null) takes the account out of the secretary's sight: it was theirs to give.
    r = client.patch(url, headers=admin, json={"member_id": None, "is_active": False})
    assert r.status_code == 200 and r.json["member_id"] is None and r.json["is_active"] is False
    assert client.get(url, headers=secretary).status_code == 404
    with tenant_context(t.id):
        changes = session.scalars(sa.select(AuditEntry.after).where(
            AuditEntry.entity_type == "account", AuditEntry.entity_id == login.id,
            AuditEntry.action == "account.update").order_by(AuditEntry.id)).all()
    assert changes[0] == {"member_id": free.id}
    assert {k: v for change in changes[1:] for k, v in change.items()} == {
        "member_id": None, "is_active": False}
