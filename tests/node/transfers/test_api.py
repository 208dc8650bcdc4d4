"""The transfers API over HTTP: a whole saga between two tenants, and bad input answered with
problem+json that changes nothing."""

from __future__ import annotations

from typing import Any

from node.grants.models import Role

from .conftest import Clock, Pair, in_row, out_row


def _headers(world: Any, side: Any, grants: list[tuple[Role, Any]], member: Any = None
             ) -> dict[str, str]:
    return world.token(world.account(side.tenant, grants, member=member))


def test_the_saga_over_http(client: Any, world: Any, pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    member = _headers(world, a, [], member=pair.member)
    branch_a = _headers(world, a, [(Role.org_admin, a.branch)])
    committee_a = _headers(world, a, [(Role.org_admin, a.committee)])
    committee_b = _headers(world, b, [(Role.org_admin, b.committee)])
    branch_b = _headers(world, b, [(Role.org_admin, b.branch)])

    places = client.get("/api/transfers/destinations", headers=member).json
    assert {a.tenant.slug, b.tenant.slug} <= {p["slug"] for p in places}
    r = client.post("/api/transfers", headers=member, json={
        "to_tenant": b.tenant.slug, "to_org_code": b.committee.code, "reason": "工作调动"})
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["side"], body["state"], body["actions"]) == ("out", "applied", ["cancel"])
    tid, uid = body["id"], body["uid"]
    assert [x["org_code"] for x in body["approvals"]] == [a.branch.code, a.committee.code]

    mine = client.get("/api/transfers", headers=member).json["items"]
    assert [x["id"] for x in mine] == [tid]
    r = client.post(f"/api/transfers/{tid}/approve", headers=committee_a, json={})
    assert r.status_code == 200 and r.json["state"] == "approving"  # the branch's step
    r = client.post(f"/api/transfers/{tid}/approve", headers=branch_a, json={})
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    r = client.post(f"/api/transfers/{tid}/approve", headers=committee_a, json={"note": "同意"})
    assert r.json["state"] == "issued" and r.json["serial"]
    assert r.json["actions"] == ["cancel", "void"]

    incoming = in_row(uid, b.tenant.id)
    inbox = client.get("/api/transfers?side=in&actionable=true", headers=committee_b).json
    assert [x["id"] for x in inbox["items"]] == [incoming.id]
    assert client.get("/api/transfers", headers=branch_b).json["items"] == []
    r = client.post(f"/api/transfers/{incoming.id}/approve", headers=committee_b,
                    json={"branch_id": b.branch.id})
    assert r.status_code == 200 and r.json["receiving_org_id"] == b.branch.id
    detail = client.get(f"/api/transfers/{incoming.id}", headers=branch_b).json
    assert detail["actions"] == ["approve", "reject"]
    r = client.post(f"/api/transfers/{incoming.id}/approve", headers=branch_b, json={})
    assert r.json["state"] == "received" and r.json["member_id"]
    assert out_row(uid, a.tenant.id).state == "closed"
    trail = client.get(f"/api/transfers/{tid}", headers=member).json["events"]
    assert [e["action"] for e in trail][-2:] == ["released", "closed"]
    # the origin's member is read-only now
    r = client.patch(f"/api/members/{pair.member.id}", headers=committee_a,
                     json={"occupation": "教师"})
    assert r.status_code == 409 and "read-only" in r.json["detail"]


def test_bad_input_is_a_problem_and_changes_nothing(client: Any, world: Any, pair: Pair,
                                                    clock: Clock) -> None:
    a, b = pair.a, pair.b
    admin = _headers(world, a, [(Role.org_admin, a.committee)])
    cases = [
        ({"to_tenant": b.tenant.slug, "to_org_code": b.committee.code}, 422),  # no reason
        ({"to_tenant": "Bad Slug!", "to_org_code": "1", "reason": "x"}, 422),
        ({"member_id": pair.member.id, "to_tenant": "nowhere",
          "to_org_code": "500199000", "reason": "x"}, 422),
        ({"member_id": 2**31 - 1, "to_tenant": b.tenant.slug,
          "to_org_code": b.committee.code, "reason": "x"}, 422),
    ]
    for payload, status in cases:
        r = client.post("/api/transfers", headers=admin, json=payload)
        assert r.status_code == status, (payload, r.json)
        assert r.mimetype == "application/problem+json"
    assert client.get("/api/transfers", headers=admin).json["items"] == []
    r = client.post("/api/transfers", headers=admin, json={
        "member_id": pair.member.id, "to_tenant": b.tenant.slug,
        "to_org_code": b.committee.code, "reason": "工作调动"})
    tid = r.json["id"]
    r = client.post(f"/api/transfers/{tid}/reject", headers=admin, json={"reason": ""})
    assert r.status_code == 422
    r = client.post(f"/api/transfers/{tid}/reject", headers=admin,
                    json={"reason": "x", "reason_code": "whim"})
    assert r.status_code == 422
    for action in ("reissue", "resend"):
        r = client.post(f"/api/transfers/{tid}/{action}", headers=admin, json={})
        assert r.status_code == 409, r.json
    assert client.get("/api/transfers?cursor=garbage", headers=admin).status_code == 422
    assert client.get(f"/api/transfers/{tid}", headers=admin).json["state"] == "applied"
    assert client.get("/api/transfers/999999", headers=admin).status_code == 404
