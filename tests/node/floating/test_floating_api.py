"""The floating-certificate API: issue, read either side, accept, record, end; bad input is a
problem+json that changes nothing; the host's answer never carries a national ID."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from node.floating import services
from node.floating.models import FloatingCertificate
from node.grants.models import Role
from node.members.models import Member, Status
from node.tenants.scoping import tenant_context

TODAY = services.local_today()


def test_the_api_from_issue_to_end(client, world, session):
    home, host = world.tenant(), world.tenant()
    committee = world.org(home, world.root(home), "committee")
    branch = world.org(home, committee, "branch")
    host_branch = world.org(host, world.root(host), "branch", name="流入地党支部")
    member = world.member(home, branch, name="何秀英", phone="13900000002")
    home_token = world.token(world.account(home, grants=[(Role.org_admin, branch)]))
    host_token = world.token(world.account(host, grants=[(Role.org_admin, host_branch)]))
    body = {"member_id": member.id, "host_tenant": host.slug,
            "host_org_code": host_branch.code, "starts_on": TODAY.isoformat(),
            "until": (TODAY + dt.timedelta(days=120)).isoformat(), "reason": "外出务工"}

    bad = client.post("/api/floating", json={**body, "until": "2001-01-01"},
                      headers=home_token)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert "until" in bad.json["errors"]
    with tenant_context(home.id):
        assert session.scalars(sa.select(FloatingCertificate)).all() == []

    issued = client.post("/api/floating", json=body, headers=home_token)
    assert issued.status_code == 201, issued.json
    assert issued.json["side"] == "home" and issued.json["status"] == "pending"

    listing = client.get("/api/floating?side=host", headers=host_token)
    assert listing.status_code == 200
    (hosted,) = listing.json["items"]
    assert hosted["member_name"] == "何秀英" and hosted["member_id"] is None
    assert "national_id" not in str(hosted) and member.national_id_masked not in str(hosted)
    # the home tenant's token does not reach the host's side, and vice versa
    assert client.get(f"/api/floating/{hosted['id']}", headers=home_token).status_code == 404
    assert client.get(f"/api/floating/{issued.json['id']}",
                      headers=host_token).status_code == 404

    accepted = client.post(f"/api/floating/{hosted['id']}/accept", headers=host_token)
    assert accepted.status_code == 200 and accepted.json["status"] == "active"
    with tenant_context(home.id):
        assert session.get(Member, member.id).status == Status.floating
    again = client.post(f"/api/floating/{hosted['id']}/accept", headers=host_token)
    assert again.status_code == 409

    ended = client.post(f"/api/floating/{issued.json['id']}/end", json={},
                        headers=home_token)
    assert ended.status_code == 200 and ended.json["end_reason"] == "returned"
    session.expire_all()
    with tenant_context(home.id):
        assert session.get(Member, member.id).status == Status.active
    assert client.get(f"/api/floating/{hosted['id']}",
                      headers=host_token).json["status"] == "ended"


def test_my_certificates(client, world):
    tenant = world.tenant()
    branch = world.org(tenant, world.root(tenant), "branch")
    member = world.member(tenant, branch)
    account = world.account(tenant, grants=[(Role.member, branch)], member=member)
    mine = client.get("/api/me/floating", headers=world.token(account))
    assert mine.status_code == 200 and mine.json == {"items": []}
    admin = world.account(tenant, grants=[(Role.org_admin, branch)])
    assert client.get("/api/me/floating", headers=world.token(admin)).status_code == 404
