"""Tiered authorization: the delegation rule and reach."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.grants.models import Grant, Role
from node.tenants.scoping import tenant_context


@pytest.fixture()
def setup(world):
    t = world.tenant()
    root = world.root(t)
    c1 = world.org(t, root, "committee")
    b1 = world.org(t, c1, "branch")
    b2 = world.org(t, c1, "branch")
    committee_admin = world.account(t, [(Role.org_admin, c1)])
    target = world.account(t, member=world.member(t, b1))  # a member's login, no grants yet
    return t, root, c1, b1, b2, committee_admin, target


@pytest.mark.parametrize(("role", "scope", "status"), [
    ("org_admin", "b1", 201),      # same role, inside scope
    ("org_viewer", "c1", 201),     # weaker role, own scope
    ("member", "b2", 201),
    ("tenant_admin", "b1", 403),   # stronger than own role
    ("org_admin", "root", 422),    # outside scope: the org is not within reach
])
def test_delegation_rule(setup, world, client, session, role, scope, status):
    t, root, c1, b1, b2, committee_admin, target = setup
    org = {"root": root, "c1": c1, "b1": b1, "b2": b2}[scope]
    headers = world.token(committee_admin)
    r = client.post("/api/grants", headers=headers,
                    json={"account_id": target.id, "role": role, "org_id": org.id})
    assert r.status_code == status, r.json
    with tenant_context(t.id):
        held = session.scalars(sa.select(Grant).where(Grant.account_id == target.id)).all()
    assert len(held) == (1 if status == 201 else 0)
    if status == 201:
        assert (held[0].role, held[0].org_code) == (Role(role), org.code)


def test_viewers_cannot_grant(setup, world, client):
    t, root, c1, b1, b2, committee_admin, target = setup
    viewer = world.account(t, [(Role.org_viewer, c1)])
    r = client.post("/api/grants", headers=world.token(viewer),
                    json={"account_id": target.id, "role": "member", "org_id": b1.id})
    assert r.status_code == 403


def test_revoke_follows_the_same_rule(setup, world, client, session):
    t, root, c1, b1, b2, committee_admin, target = setup
    admin_headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post("/api/grants", headers=admin_headers,
                    json={"account_id": target.id, "role": "tenant_admin", "org_id": c1.id})
    strong_id = r.json["id"]
    r = client.post("/api/grants", headers=admin_headers,
                    json={"account_id": target.id, "role": "org_viewer", "org_id": b1.id})
    weak_id = r.json["id"]
    headers = world.token(committee_admin)
    assert client.delete(f"/api/grants/{strong_id}", headers=headers).status_code == 403
    assert client.delete(f"/api/grants/{weak_id}", headers=headers).status_code == 204
    assert client.get(f"/api/grants/{weak_id}", headers=headers).status_code == 404
    with tenant_context(t.id):
        actions = session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity_type == "grant").order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["grant.create", "grant.create", "grant.delete"]


def test_only_accounts_one_administers_can_be_given_roles(setup, world, client):
    t, root, c1, b1, b2, committee_admin, target = setup
    staff = world.account(t)  # not a member: only tenant administrators manage it
    r = client.post("/api/grants", headers=world.token(committee_admin),
                    json={"account_id": staff.id, "role": "org_viewer", "org_id": b1.id})
    assert r.status_code == 422 and "account_id" in r.json["errors"]
    admin = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post("/api/grants", headers=admin,
                    json={"account_id": staff.id, "role": "org_viewer", "org_id": b1.id})
    assert r.status_code == 201


def test_the_last_tenant_admin_stays(world, client, session):
    t = world.tenant()
    with tenant_context(t.id):
        grant = session.scalars(sa.select(Grant).where(Grant.role == Role.tenant_admin)).one()
        account_id = grant.account_id
    from node.accounts.models import Account
    with tenant_context(t.id):
        account = session.get(Account, account_id)
        session.expunge(account)
    headers = world.token(account)
    assert client.delete(f"/api/grants/{grant.id}", headers=headers).status_code == 409


def test_grant_list_shows_the_administered_subtree_and_own(setup, world, client):
    t, root, c1, b1, b2, committee_admin, target = setup
    branch_admin = world.account(t, [(Role.org_admin, b1)])
    other = world.account(t, [(Role.org_viewer, b2)])
    codes = lambda h: sorted((g["account_id"], g["org_code"])  # noqa: E731
                             for g in client.get("/api/grants", headers=h).json["items"])
    assert codes(world.token(branch_admin)) == [(branch_admin.id, b1.code)]
    seen = codes(world.token(committee_admin))
    assert (other.id, b2.code) in seen and (branch_admin.id, b1.code) in seen
    assert all(code.startswith(c1.code) for _, code in seen)
