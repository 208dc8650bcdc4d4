"""Floating members: certificates issued at home and accepted by a host (same tenant or another
tenant of the node), participation recorded by the host, the end, expiry and isolation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.floating import services
from node.floating.cli import expire_all
from node.floating.models import (
    EndReason,
    FloatingCertificate,
    FloatingParticipation,
    FloatingSide,
    FloatingStatus,
    ParticipationStatus,
)
from node.grants.models import Role
from node.meetings import services as meetings
from node.meetings.models import MeetingKind
from node.members.models import ActivityEntry, Member, Status, StatusChange
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

TODAY = services.local_today()


@dataclasses.dataclass
class Two:
    home: Any
    host: Any
    home_branch: Any
    host_branch: Any
    sibling: Any
    member: Any


def admin(tenant: Any, org: Any, role: Role = Role.org_admin) -> Principal:
    return Principal(account_id=0, tenant_id=tenant.id, username="t", grants=((role, org.code),))


@pytest.fixture()
def two(world: Any) -> Two:
    """A member of a branch of tenant `home`, and a branch of another tenant `host`."""
    home, host = world.tenant(), world.tenant()
    committee = world.org(home, world.root(home), "committee")
    branch = world.org(home, committee, "branch", name="钢花路社区第一党支部")
    sibling = world.org(home, committee, "branch", name="钢花路社区第二党支部")
    host_branch = world.org(host, world.root(host), "branch", name="深圳南山科技园党支部")
    member = world.member(home, branch, name="何秀英", phone="13900000002",
                          email="he@example.org")
    return Two(home, host, branch, host_branch, sibling, member)


def issue(session: Any, two: Two, *, host: Any = None, host_org: Any = None,
          **data: Any) -> int:
    host, host_org = host or two.host, host_org or two.host_branch
    with tenant_context(two.home.id), acting_as("test"):
        cert = services.issue_certificate(
            admin(two.home, two.home_branch), session.get(Tenant, two.home.id), {
                "member_id": two.member.id, "starts_on": TODAY - dt.timedelta(days=20),
                "until": TODAY + dt.timedelta(days=200), "reason": "外出务工，地点不固定",
                "host_tenant": host.slug, "host_org_code": host_org.code, **data})
        session.commit()
        return cert.id


def host_cert(session: Any, tenant: Any) -> FloatingCertificate:
    return session.scalars(sa.select(FloatingCertificate)
                           .where(FloatingCertificate.side == FloatingSide.host)).one()


def accept(session: Any, two: Two) -> int:
    with tenant_context(two.host.id), acting_as("test"):
        cert = host_cert(session, two.host)
        services.accept_certificate(admin(two.host, two.host_branch), cert)
        session.commit()
        return cert.id


def held_meeting(session: Any, tenant: Any, org: Any, days_ago: int = 5) -> int:
    starts = meetings.now_utc() - dt.timedelta(days=days_ago)
    with tenant_context(tenant.id), acting_as("test"):
        meeting = _schedule_with_invitee(session, tenant, org, starts)
        meetings.hold_meeting(admin(tenant, org), meeting)
        session.commit()
        return meeting.id


def _schedule_with_invitee(session: Any, tenant: Any, org: Any, starts: dt.datetime) -> Any:
    """A theme day of the host branch (a member of its own invited)."""
    from node.members.services import create_member
    from tests.node.conftest import make_national_id

    with acting_as("test"):
        principal = Principal(account_id=0, tenant_id=tenant.id, username="t",
                              grants=((Role.tenant_admin, tenant.code_prefix),))
        local = session.scalar(sa.select(Member).where(Member.org_id == org.id))
        if local is None:
            create_member(principal, session.get(Tenant, tenant.id), {
                "org_id": org.id, "name": "本地党员", "national_id": make_national_id(777_001),
                "stage": "full"})
        return meetings.schedule_meeting(principal, {
            "org_id": org.id, "kind": MeetingKind.theme_day, "title": "主题党日",
            "starts_at": starts, "ends_at": starts + dt.timedelta(hours=2),
            "place": "党群服务中心"})


def member_row(session: Any, two: Two) -> Member:
    with tenant_context(two.home.id):
        member = session.get(Member, two.member.id)
        session.refresh(member)
        return member


# --- the whole life of a certificate across two tenants -----------------------------------------


def test_issue_accept_participate_end_across_tenants(session, two):
    home_id = issue(session, two)
    with tenant_context(two.home.id):
        home = session.get(FloatingCertificate, home_id)
        assert home.status == FloatingStatus.pending and home.side == FloatingSide.home
        assert home.number.startswith(f"{two.home.code_prefix}-LD-")
    with tenant_context(two.host.id):
        host = host_cert(session, two.host)
        # the host's limited view: name, number, stage, contact, home org; no member row
        assert (host.member_name, host.member_phone, host.member_id) == (
            "何秀英", "13900000002", None)
        assert host.home_org_name == "钢花路社区第一党支部"
        assert host.org_code == two.host_branch.code and host.number == home.number
    assert member_row(session, two).status == Status.active  # not floating until accepted

    accept(session, two)
    member = member_row(session, two)
    assert member.status == Status.floating
    with tenant_context(two.home.id):
        assert session.get(FloatingCertificate, home_id).status == FloatingStatus.active
        change = session.scalars(sa.select(StatusChange).where(
            StatusChange.member_id == member.id).order_by(StatusChange.id.desc())).first()
        assert change.to_status == Status.floating and home.number in change.reason

    meeting_id = held_meeting(session, two.host, two.host_branch)
    with tenant_context(two.host.id), acting_as("test"):
        services.record_participation(admin(two.host, two.host_branch),
                                      host_cert(session, two.host), meeting_id=meeting_id,
                                      status=ParticipationStatus.present)
        session.commit()
    with tenant_context(two.home.id):
        entries = session.scalars(sa.select(ActivityEntry).where(
            ActivityEntry.member_id == two.member.id,
            ActivityEntry.kind == services.ACTIVITY_KIND)).all()
        assert [e.title for e in entries] == ["深圳南山科技园党支部: 主题党日"]
        lines = services.participations(session.get(FloatingCertificate, home_id))
        assert [(line.status, line.meeting_id) for line in lines] == [
            (ParticipationStatus.present, None)]
    # recorded again as absent: updated on both sides, the activity line withdrawn
    with tenant_context(two.host.id), acting_as("test"):
        services.record_participation(admin(two.host, two.host_branch),
                                      host_cert(session, two.host), meeting_id=meeting_id,
                                      status=ParticipationStatus.absent)
        session.commit()
    with tenant_context(two.home.id):
        assert session.scalar(sa.select(sa.func.count()).select_from(ActivityEntry).where(
            ActivityEntry.kind == services.ACTIVITY_KIND)) == 0
        assert session.scalar(sa.select(FloatingParticipation.status).where(
            FloatingParticipation.certificate_id == home_id)) == ParticipationStatus.absent
    # the host's own attendance sheet never lists the floating member: no vote, no tally
    with tenant_context(two.host.id):
        sheet = meetings.attendance_sheet(admin(two.host, two.host_branch),
                                          meetings.get_meeting(admin(two.host,
                                                                     two.host_branch),
                                                               meeting_id))
        assert "何秀英" not in [row.name for row in sheet]

    with tenant_context(two.home.id), acting_as("test"):
        services.end_certificate(admin(two.home, two.home_branch),
                                 session.get(FloatingCertificate, home_id))
        session.commit()
    assert member_row(session, two).status == Status.active
    with tenant_context(two.host.id):
        host = host_cert(session, two.host)
        assert (host.status, host.end_reason) == (FloatingStatus.ended, EndReason.returned)


def test_each_tenant_sees_only_its_own_side(session, two, world):
    issue(session, two)
    third = world.tenant()
    for tenant, side in ((two.home, FloatingSide.home), (two.host, FloatingSide.host)):
        with tenant_context(tenant.id):
            root = Principal(account_id=0, tenant_id=tenant.id, username="t",
                             grants=((Role.tenant_admin, tenant.code_prefix),))
            assert [c.side for c in services.list_certificates(root)] == [side]
    with tenant_context(third.id):
        root = Principal(account_id=0, tenant_id=third.id, username="t",
                         grants=((Role.tenant_admin, third.code_prefix),))
        assert services.list_certificates(root) == []
        assert session.scalars(sa.select(FloatingCertificate)).all() == []


def test_reach_inside_a_tenant(session, two):
    home_id = issue(session, two)
    with tenant_context(two.home.id):
        # the sibling branch's secretary: not even found
        with pytest.raises(NotFound):
            services.get_certificate(admin(two.home, two.sibling), home_id)
        assert services.list_certificates(admin(two.home, two.sibling)) == []
        viewer = admin(two.home, two.home_branch, Role.org_viewer)
        assert services.get_certificate(viewer, home_id).id == home_id
        with pytest.raises(Forbidden):
            services.get_certificate(viewer, home_id, Role.org_admin)
    with tenant_context(two.host.id):
        cert = host_cert(session, two.host)
        host_viewer = admin(two.host, two.host_branch, Role.org_viewer)
        with pytest.raises(Forbidden):
            services.accept_certificate(host_viewer, cert)
        session.rollback()


def test_declining_needs_a_reason_and_goes_home(session, two):
    home_id = issue(session, two)
    with tenant_context(two.host.id), acting_as("test"):
        with pytest.raises(InvalidInput):
            services.decline_certificate(admin(two.host, two.host_branch),
                                         host_cert(session, two.host), "  ")
        session.rollback()
    with tenant_context(two.host.id), acting_as("test"):
        services.decline_certificate(admin(two.host, two.host_branch),
                                     host_cert(session, two.host), "本支部不在该地区")
        session.commit()
    with tenant_context(two.home.id):
        home = session.get(FloatingCertificate, home_id)
        assert (home.status, home.decline_reason) == (FloatingStatus.declined, "本支部不在该地区")
    assert member_row(session, two).status == Status.active


def test_a_host_in_the_same_tenant(session, two):
    home_id = issue(session, two, host=two.home, host_org=two.sibling)
    with tenant_context(two.home.id), acting_as("test"):
        certs = session.scalars(sa.select(FloatingCertificate)
                                .order_by(FloatingCertificate.id)).all()
        assert [c.side for c in certs] == [FloatingSide.home, FloatingSide.host]
        # the sibling's secretary sees the host side only, and accepts it
        sibling = admin(two.home, two.sibling)
        assert [c.side for c in services.list_certificates(sibling)] == [FloatingSide.host]
        services.accept_certificate(sibling, certs[1])
        session.commit()
    assert member_row(session, two).status == Status.floating
    with tenant_context(two.home.id):
        assert session.get(FloatingCertificate, home_id).status == FloatingStatus.active


@pytest.mark.parametrize("change, field", [
    ({"until": TODAY - dt.timedelta(days=30)}, "until"),
    ({"until": TODAY + dt.timedelta(days=900)}, "until"),
    ({"reason": " "}, "reason"),
    ({"host_org_code": "999999"}, "host_org_code"),
    ({"host_tenant": "no-such-tenant"}, "host_tenant"),
])
def test_bad_requests_change_nothing(session, two, change, field):
    with pytest.raises(InvalidInput) as caught:
        issue(session, two, **change)
    session.rollback()
    assert field in caught.value.errors
    with tenant_context(two.home.id):
        assert session.scalars(sa.select(FloatingCertificate)).all() == []


def test_a_group_or_the_own_branch_cannot_host(session, two, world):
    group = world.org(two.host, two.host_branch, "group")
    for host, org in ((two.host, group), (two.home, two.home_branch)):
        with pytest.raises(InvalidInput):
            issue(session, two, host=host, host_org=org)
        session.rollback()


def test_only_one_open_certificate_and_only_party_members(session, two, world):
    issue(session, two)
    with pytest.raises(Conflict):
        issue(session, two)
    session.rollback()
    applicant = world.member(two.home, two.home_branch, stage="applicant")
    with pytest.raises(InvalidInput):
        issue(session, dataclasses.replace(two, member=applicant))
    session.rollback()


def test_participation_must_be_a_held_meeting_of_the_host_within_validity(session, two):
    issue(session, two)
    accept(session, two)
    elsewhere = held_meeting(session, two.home, two.home_branch)
    too_early = held_meeting(session, two.host, two.host_branch, days_ago=40)
    for meeting_id in (elsewhere, too_early, 999_999):
        with tenant_context(two.host.id), acting_as("test"), pytest.raises(InvalidInput):
            services.record_participation(admin(two.host, two.host_branch),
                                          host_cert(session, two.host), meeting_id=meeting_id,
                                          status=ParticipationStatus.present)
        session.rollback()
    ok = held_meeting(session, two.host, two.host_branch)
    with tenant_context(two.host.id), acting_as("test"), pytest.raises(InvalidInput):
        services.record_participation(admin(two.host, two.host_branch),
                                      host_cert(session, two.host), meeting_id=ok,
                                      status=ParticipationStatus.excused)  # no reason
    session.rollback()


def test_expiry_ends_both_sides_once(session, two):
    home_id = issue(session, two)
    accept(session, two)
    later = TODAY + dt.timedelta(days=201)
    done = dict(expire_all(later))
    assert done[two.home.slug] == 1
    assert dict(expire_all(later))[two.home.slug] == 0  # again: nothing
    assert member_row(session, two).status == Status.active
    with tenant_context(two.home.id):
        home = session.get(FloatingCertificate, home_id)
        assert (home.status, home.end_reason) == (FloatingStatus.ended, EndReason.expired)
    with tenant_context(two.host.id):
        assert host_cert(session, two.host).end_reason == EndReason.expired


def test_duplicate_steps_change_nothing(session, two):
    home_id = issue(session, two)
    accept(session, two)
    with tenant_context(two.home.id):
        uid = session.get(FloatingCertificate, home_id).uid
        before = session.scalar(sa.select(sa.func.count()).select_from(StatusChange))
        services.apply_step(uid=uid, side=FloatingSide.home, step="accepted",
                            body={"on": TODAY.isoformat()})
        services.apply_step(uid=uid, side=FloatingSide.home, step="declined",
                            body={"reason": "x"})
        session.flush()
        assert session.scalar(sa.select(sa.func.count()).select_from(StatusChange)) == before
        assert session.get(FloatingCertificate, home_id).status == FloatingStatus.active
    with tenant_context(two.host.id):
        services.apply_step(uid=uid, side=FloatingSide.host, step="issued", body={})
        assert session.scalar(sa.select(sa.func.count()).select_from(FloatingCertificate)) == 1
        with pytest.raises(InvalidInput):
            services.apply_step(uid=uid, side=FloatingSide.host, step="bogus", body={})


def test_the_relay_job_ends_expired_certificates(session, two, monkeypatch):
    import threading

    from node.floating import cli

    class Once(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            self.set()
            return True

    home_id = issue(session, two)
    accept(session, two)
    monkeypatch.setattr(services, "local_today", lambda: TODAY + dt.timedelta(days=300))
    cli.expiry_job(Once(), interval=0)
    with tenant_context(two.home.id):
        assert session.get(FloatingCertificate, home_id).end_reason == EndReason.expired
    assert member_row(session, two).status == Status.active
