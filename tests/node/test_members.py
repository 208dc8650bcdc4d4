"""Members: registration, pipeline, status, moves, search, national-ID reveal, the card."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.grants.models import Role
from node.members.models import Member
from node.tenants.scoping import tenant_context


@pytest.fixture()
def branch(world):
    t = world.tenant()
    root = world.root(t)
    c1 = world.org(t, root, "committee")
    b1 = world.org(t, c1, "branch")
    b2 = world.org(t, c1, "branch")
    admin = world.token(world.account(t, [(Role.org_admin, c1)]))
    return t, root, c1, b1, b2, admin


def test_register_validates_encrypts_and_masks(branch, client, session, national_id):
    t, root, c1, b1, b2, admin = branch
    raw = national_id(7)
    r = client.post("/api/members", headers=admin, json={
        "org_id": b1.id, "name": "王芳", "national_id": raw, "stage": "applicant"})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["national_id"] == raw[:3] + "*" * 11 + raw[-4:]
    assert body["member_number"].startswith(t.code_prefix) and len(body["member_number"]) == 17
    assert body["birth_date"] == f"{raw[6:10]}-{raw[10:12]}-{raw[12:14]}"
    with tenant_context(t.id):
        stored = session.get(Member, body["id"])
        assert raw not in stored.national_id_cipher and raw not in stored.national_id_hash
        audit = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.create")).one()
        assert raw not in str(audit.after) and "national_id_cipher" not in audit.after


@pytest.mark.parametrize(("value", "fragment"), [
    ("11010519491231002Y", "18 characters"),
    ("110105194912310021", "check digit"),
    ("110105194902300028", "date of birth"),
    ("990105194912310021", "region code"),
])
def test_register_rejects_bad_national_ids(branch, client, value, fragment):
    t, root, c1, b1, b2, admin = branch
    r = client.post("/api/members", headers=admin, json={
        "org_id": b1.id, "name": "王芳", "national_id": value, "stage": "applicant"})
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert fragment in " ".join(r.json["errors"]["national_id"]).lower()


def test_the_same_person_cannot_be_registered_twice(branch, client, national_id):
    t, root, c1, b1, b2, admin = branch
    raw = national_id(8)
    payload = {"org_id": b1.id, "name": "李四", "national_id": raw, "stage": "full"}
    assert client.post("/api/members", headers=admin, json=payload).status_code == 201
    legacy = raw[:6] + raw[8:17]  # the 15-digit form of the same person
    r = client.post("/api/members", headers=admin, json={**payload, "national_id": legacy})
    assert r.status_code == 409


def test_members_cannot_belong_to_a_party_group(world, branch, client, national_id):
    t, root, c1, b1, b2, admin = branch
    group = world.org(t, b1, "group")
    r = client.post("/api/members", headers=admin, json={
        "org_id": group.id, "name": "x", "national_id": national_id(9), "stage": "full"})
    assert r.status_code == 422 and "org_id" in r.json["errors"]


def test_pipeline_moves_one_step_at_a_time_with_dated_history(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    m = world.member(t, b1, stage="applicant", stage_since=dt.date(2024, 12, 1))
    r = client.post(f"/api/members/{m.id}/stage", headers=admin,
                    json={"to_stage": "candidate", "effective_on": "2025-01-01"})
    assert r.status_code == 409
    steps = [("activist", "2025-01-10"), ("candidate", "2025-03-01"),
             ("probationary", "2025-06-01"), ("full", "2026-06-01")]
    warnings = []
    for stage, day in steps:
        r = client.post(f"/api/members/{m.id}/stage", headers=admin,
                        json={"to_stage": stage, "effective_on": day})
        assert r.status_code == 200, r.json
        warnings += r.json["warnings"]
    assert r.json["member"]["admitted_on"] == "2025-06-01"
    assert r.json["member"]["full_on"] == "2026-06-01"
    assert any("6 months" in w for w in warnings)  # activist after less than 6 months
    card = client.get(f"/api/members/{m.id}/card", headers=admin).json
    assert [s["to_stage"] for s in card["stages"]] == [
        "applicant", "activist", "candidate", "probationary", "full"]
    r = client.post(f"/api/members/{m.id}/stage", headers=admin,
                    json={"to_stage": "full", "effective_on": "2026-07-01"})
    assert r.status_code == 409


def test_status_changes_are_dated_and_transfer_status_is_reserved(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    m = world.member(t, b1, stage_since=dt.date(2020, 1, 1))
    r = client.post(f"/api/members/{m.id}/status", headers=admin,
                    json={"to_status": "floating", "effective_on": "2026-03-01",
                          "reason": "外出务工"})
    assert r.status_code == 200 and r.json["status"] == "floating"
    r = client.post(f"/api/members/{m.id}/status", headers=admin,
                    json={"to_status": "transferred_out", "effective_on": "2026-03-01"})
    assert r.status_code == 409
    card = client.get(f"/api/members/{m.id}/card", headers=admin).json
    assert [(s["from_status"], s["to_status"]) for s in card["statuses"]] == [
        (None, "active"), ("active", "floating")]


def test_move_records_org_history(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    m = world.member(t, b1, stage_since=dt.date(2020, 1, 1))
    r = client.post(f"/api/members/{m.id}/move", headers=admin,
                    json={"to_org_id": b1.id, "effective_on": "2026-02-01"})
    assert r.status_code == 409
    r = client.post(f"/api/members/{m.id}/move", headers=admin,
                    json={"to_org_id": b2.id, "effective_on": "2019-02-01"})
    assert r.status_code == 422 and "effective_on" in r.json["errors"]
    r = client.post(f"/api/members/{m.id}/move", headers=admin,
                    json={"to_org_id": b2.id, "effective_on": "2026-02-01", "reason": "工作调动"})
    assert r.status_code == 200 and r.json["org_id"] == b2.id
    card = client.get(f"/api/members/{m.id}/card", headers=admin).json
    assert [(o["from_org_id"], o["to_org_id"]) for o in card["orgs"]] == [
        (None, b1.id), (b1.id, b2.id)]


def test_moving_into_an_org_outside_reach_is_refused(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    secretary = world.token(world.account(t, [(Role.org_admin, b1)]))
    m = world.member(t, b1)
    r = client.post(f"/api/members/{m.id}/move", headers=secretary,
                    json={"to_org_id": b2.id, "effective_on": "2026-02-01"})
    assert r.status_code == 422 and "to_org_id" in r.json["errors"]


def test_search_by_name_number_and_national_id(world, branch, client, national_id):
    t, root, c1, b1, b2, admin = branch
    raw = national_id(11)
    m = world.member(t, b1, name="赵小明", national_id=raw)
    world.member(t, b2, name="钱大伟")
    for q in ("小明", m.member_number, raw, raw.lower()):
        r = client.get("/api/members", headers=admin, query_string={"q": q})
        assert [x["id"] for x in r.json["items"]] == [m.id], q
    r = client.get("/api/members", headers=admin, query_string={"q": "110105194912310021"})
    assert r.json["items"] == []


def test_subtree_and_filters(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    a = world.member(t, b1, stage="full")
    world.member(t, b1, stage="activist")
    c = world.member(t, b2, stage="full")
    r = client.get("/api/members", headers=admin,
                   query_string={"org_id": c1.id, "stage": "full"})
    assert [x["id"] for x in r.json["items"]] == [a.id, c.id]
    r = client.get("/api/members", headers=admin,
                   query_string={"org_id": b1.id, "subtree": "false", "limit": 1})
    assert len(r.json["items"]) == 1 and r.json["next_cursor"]
    r2 = client.get("/api/members", headers=admin, query_string={
        "org_id": b1.id, "subtree": "false", "limit": 1, "cursor": r.json["next_cursor"]})
    assert len(r2.json["items"]) == 1 and r2.json["items"][0]["id"] != r.json["items"][0]["id"]


def test_reveal_is_for_administrators_and_audited(world, branch, client, session, national_id):
    t, root, c1, b1, b2, admin = branch
    raw = national_id(12)
    m = world.member(t, b1, national_id=raw)
    viewer = world.token(world.account(t, [(Role.org_viewer, b1)]))
    assert client.post(f"/api/members/{m.id}/national-id", headers=viewer).status_code == 404
    r = client.post(f"/api/members/{m.id}/national-id", headers=admin)
    assert r.status_code == 200 and r.json["national_id"] == raw
    with tenant_context(t.id):
        entries = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.reveal_national_id")).all()
    assert [(e.entity_id, e.remote_addr is not None) for e in entries] == [(m.id, True)]


def test_member_maintains_only_self_declared_fields(world, branch, client):
    t, root, c1, b1, b2, admin = branch
    m = world.member(t, b1, name="孙丽")
    own = world.token(world.account(t, member=m))
    r = client.patch("/api/me/member", headers=own, json={"phone": "13800000000",
                                                          "address": "大渡口区春晖路"})
    assert r.status_code == 200 and r.json["phone"] == "13800000000"
    r = client.patch("/api/me/member", headers=own, json={"name": "别人"})
    assert r.status_code == 422
    assert client.get("/api/me/member", headers=own).json["name"] == "孙丽"
    assert client.get(f"/api/members/{m.id}", headers=own).status_code == 404
    assert client.get("/api/me/card", headers=own).json["member"]["id"] == m.id


def test_admin_edit_is_audited_with_before_and_after(world, branch, client, session):
    t, root, c1, b1, b2, admin = branch
    m = world.member(t, b1, name="周强")
    r = client.patch(f"/api/members/{m.id}", headers=admin, json={"name": "周刚",
                                                                  "education": "bachelor"})
    assert r.status_code == 200
    with tenant_context(t.id):
        entry = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.update")).one()
    assert entry.before == {"name": "周强", "education": None}
    assert entry.after == {"name": "周刚", "education": "bachelor"}
    log = client.get("/api/audit", headers=admin,
                     query_string={"entity_type": "member", "entity_id": m.id}).json
    assert [e["action"] for e in log["items"]] == ["member.update", "member.create"]
