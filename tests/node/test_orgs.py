"""The organization tree: codes, kinds, moves (recoding), dissolution and rule warnings."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.grants.models import Grant, Role
from node.members.models import Member
from node.orgs.models import Org, OrgMove
from node.tenants.scoping import tenant_context


@pytest.fixture()
def tree(world):
    t = world.tenant()
    root = world.root(t)
    c1 = world.org(t, root, "committee", "街道党工委")
    b1 = world.org(t, c1, "branch", "社区第一支部")
    b2 = world.org(t, c1, "branch", "社区第二支部")
    c2 = world.org(t, root, "committee", "机关工委")
    return t, root, c1, b1, b2, c2


def test_codes_are_allocated_under_the_parent(tree):
    t, root, c1, b1, b2, c2 = tree
    assert root.code == t.code_prefix
    assert c1.code == t.code_prefix + "001" and c2.code == t.code_prefix + "002"
    assert b1.code == c1.code + "001" and b2.code == c1.code + "002"
    assert (c1.depth, b1.depth) == (1, 2)


def test_codes_are_never_reused_after_dissolution(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post(f"/api/orgs/{b2.id}/dissolve", json={"dissolved_on": "2026-01-01"},
                    headers=headers)
    assert r.status_code == 200 and r.json["dissolved_on"] == "2026-01-01"
    b3 = world.org(t, c1, "branch")
    assert b3.code == c1.code + "003"


def test_kind_rules(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post("/api/orgs", json={"parent_id": b1.id, "kind": "committee", "name": "x"},
                    headers=headers)
    assert r.status_code == 422 and "kind" in r.json["errors"]
    r = client.post("/api/orgs", json={"parent_id": b1.id, "kind": "group", "name": "第一党小组"},
                    headers=headers)
    assert r.status_code == 201 and r.json["code"] == b1.code + "001"


def test_move_recodes_the_subtree_everywhere_and_is_recorded(world, tree, client, session):
    t, root, c1, b1, b2, c2 = tree
    group = world.org(t, b1, "group")
    member = world.member(t, b1)
    admin = world.account(t, [(Role.tenant_admin, root)])
    secretary = world.account(t, [(Role.org_admin, b1)])
    headers = world.token(admin)
    r = client.post(f"/api/orgs/{b1.id}/move", json={"new_parent_id": c2.id, "reason": "调整"},
                    headers=headers)
    assert r.status_code == 200, r.json
    new_code = c2.code + "001"
    assert r.json["code"] == new_code and r.json["parent_id"] == c2.id
    session.expire_all()
    with tenant_context(t.id):
        assert session.get(Org, group.id).code == new_code + "001"
        assert session.get(Member, member.id).org_code == new_code
        grant = session.scalars(sa.select(Grant).where(Grant.account_id == secretary.id)).one()
        assert grant.org_code == new_code
        move = session.scalars(sa.select(OrgMove)).one()
        assert (move.old_code, move.new_code, move.subtree_size) == (b1.code, new_code, 2)
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "org.move")) == 1
    # the secretary still reaches the member after the move
    r = client.get(f"/api/members/{member.id}", headers=world.token(secretary))
    assert r.status_code == 200


def test_move_under_own_subtree_is_refused(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    sub = world.org(t, c1, "committee")
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post(f"/api/orgs/{c1.id}/move", json={"new_parent_id": sub.id}, headers=headers)
    assert r.status_code == 422
    r = client.get(f"/api/orgs/{c1.id}", headers=headers)
    assert r.json["code"] == c1.code


def test_dissolve_refuses_an_org_with_members(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    world.member(t, b1)
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.post(f"/api/orgs/{b1.id}/dissolve", json={"dissolved_on": "2026-01-01"},
                    headers=headers)
    assert r.status_code == 409 and r.json["members"] == 1


def test_warnings_for_size_and_committee_rules(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    codes = {w["code"] for w in client.get(f"/api/orgs/{b1.id}", headers=headers).json["warnings"]}
    assert codes == {"branch-too-small"}
    for _ in range(7):
        world.member(t, b1)
    codes = {w["code"] for w in client.get(f"/api/orgs/{b1.id}", headers=headers).json["warnings"]}
    assert codes == {"branch-committee-size"}
    for position in ("secretary", "organization", "propaganda"):
        r = client.post(f"/api/orgs/{b1.id}/officers", headers=headers, json={
            "name": f"委员{position}", "position": position,
            "term_start": (dt.date.today() - dt.timedelta(days=30)).isoformat()})
        assert r.status_code == 201
    assert client.get(f"/api/orgs/{b1.id}", headers=headers).json["warnings"] == []


def test_overdue_term_is_warned(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    client.post(f"/api/orgs/{c1.id}/officers", headers=headers, json={
        "name": "老书记", "position": "secretary", "term_start": "2019-03-01"})
    codes = [w["code"] for w in client.get(f"/api/orgs/{c1.id}", headers=headers).json["warnings"]]
    assert codes == ["term-overdue"]


def test_list_is_a_depth_first_walk_with_cursor(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.member, root)]))
    r = client.get("/api/orgs?limit=3", headers=headers)
    assert [o["id"] for o in r.json["items"]] == [root.id, c1.id, b1.id]
    assert 'rel="next"' in r.headers["Link"]
    r = client.get(f"/api/orgs?limit=3&cursor={r.json['next_cursor']}", headers=headers)
    assert [o["id"] for o in r.json["items"]] == [b2.id, c2.id]
    assert r.json["next_cursor"] is None
    r = client.get(f"/api/orgs?within={c1.code}", headers=headers)
    assert [o["id"] for o in r.json["items"]] == [c1.id, b1.id, b2.id]


def test_external_code_is_unique_in_the_tenant(world, tree, client):
    t, root, c1, b1, b2, c2 = tree
    headers = world.token(world.account(t, [(Role.tenant_admin, root)]))
    r = client.patch(f"/api/orgs/{b1.id}", json={"external_code": "X-1"}, headers=headers)
    assert r.status_code == 200
    r = client.patch(f"/api/orgs/{b2.id}", json={"external_code": "X-1"}, headers=headers)
    assert r.status_code == 409 and "external_code" in r.json["errors"]
