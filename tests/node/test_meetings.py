"""Meetings: invitations, check-in, attendance, review, and compliance across periods."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.db import db
from node.grants.models import Role
from node.meetings import services
from node.meetings.models import (
    LOCAL_TZ,
    Attendance,
    AttendanceStatus,
    CheckinFailure,
    Meeting,
    MeetingKind,
)
from node.meetings.services import Period
from node.orgs.models import OfficerPosition, Org
from node.orgs.services import add_officer, update_org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyAttempts

NOW = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)


def local(*args: int) -> dt.datetime:
    """A China Standard Time moment, as the services store it (UTC)."""
    return dt.datetime(*args, tzinfo=LOCAL_TZ).astimezone(dt.UTC)


@pytest.fixture()
def site(world, tmp_path, app) -> Any:
    """Tenant: root > committee C > branches B1 (3 members, group G1), B2 (1 member)."""
    app.config["MEETINGS_ATTACHMENTS_DIR"] = str(tmp_path / "files")
    app.config["MEETINGS_MAX_ATTACHMENT_BYTES"] = 2000
    tenant = world.tenant()
    root = world.root(tenant)
    c = world.org(tenant, root, "committee")
    b1, b2 = world.org(tenant, c), world.org(tenant, c)
    g1 = world.org(tenant, b1, "group")
    m1, m2, m3 = (world.member(tenant, b1) for _ in range(3))
    applicant = world.member(tenant, b1, stage="applicant")
    s2 = world.member(tenant, b2)
    accounts = {
        "admin_c": world.account(tenant, [(Role.org_admin, c)]),
        "admin_b1": world.account(tenant, [(Role.org_admin, b1)], member=m1),
        "admin_b2": world.account(tenant, [(Role.org_admin, b2)], member=s2),
        "viewer_c": world.account(tenant, [(Role.org_viewer, c)]),
        "member_2": world.account(tenant, [(Role.member, b1)], member=m2),
        "member_3": world.account(tenant, [(Role.member, b1)], member=m3),
    }
    founded = dt.date(2020, 1, 1)
    with tenant_context(tenant.id), acting_as("test"):
        principal = world.root_principal(tenant)
        for org in (c, b1, b2, g1):
            update_org(principal, db.session.get(Org, org.id), {"founded_on": founded})
        db.session.commit()
    yield {"tenant": tenant, "c": c, "b1": b1, "b2": b2, "g1": g1, "m1": m1, "m2": m2,
           "m3": m3, "applicant": applicant, "s2": s2, "accounts": accounts,
           "h": {name: world.token(acc) for name, acc in accounts.items()}}
    app.config.pop("MEETINGS_ATTACHMENTS_DIR")
    app.config.pop("MEETINGS_MAX_ATTACHMENT_BYTES")


def admin_of(site: Any, org: str, member: str | None = None) -> Principal:
    return Principal(account_id=0, tenant_id=site["tenant"].id, username="test",
                     member_id=site[member].id if member else None,
                     grants=((Role.org_admin, site[org].code),))


def member_principal(site: Any, member: str) -> Principal:
    return Principal(account_id=0, tenant_id=site["tenant"].id, username="m",
                     member_id=site[member].id, grants=((Role.member, site["b1"].code),))


def schedule(site: Any, kind: MeetingKind = MeetingKind.member_assembly, org: str = "b1",
             starts: dt.datetime | None = None, hours: int = 2, now: dt.datetime = NOW,
             hold: bool = True, **extra: Any) -> Meeting:
    """A meeting scheduled through the service (and held, by default) in the site's tenant."""
    starts = starts or now - dt.timedelta(days=1)
    admin = admin_of(site, "c")
    meeting = services.schedule_meeting(admin, {
        "org_id": site[org].id, "kind": kind, "title": "会议", "starts_at": starts,
        "ends_at": starts + dt.timedelta(hours=hours), "place": "党员活动室", **extra}, now=now)
    if hold:
        services.hold_meeting(admin, meeting, now=max(now, starts))
    return meeting


def in_tenant(site: Any):
    return tenant_context(site["tenant"].id)


def _tenant(site: Any) -> Tenant:
    tenant = db.session.get(Tenant, site["tenant"].id)
    assert tenant is not None
    return tenant


# --- invitations --------------------------------------------------------------------------


def test_invitees_follow_the_org_and_the_kind(site):
    with in_tenant(site):
        assembly = schedule(site, hold=False)
        invited = set(db.session.scalars(sa.select(Attendance.member_id)
                                         .where(Attendance.meeting_id == assembly.id)))
        # party members of B1, not the applicant, not B2's
        assert invited == {site["m1"].id, site["m2"].id, site["m3"].id}
        with pytest.raises(InvalidInput) as no_officers:
            schedule(site, MeetingKind.committee_meeting, hold=False)
        assert "member_ids" in no_officers.value.errors
        for member in ("m1", "m2"):
            add_officer(admin_of(site, "b1"), db.session.get(Org, site["b1"].id), {
                "member_id": site[member].id, "position": OfficerPosition.committee_member,
                "term_start": dt.date(2024, 1, 1)})
        committee = schedule(site, MeetingKind.committee_meeting, hold=False)
        assert set(db.session.scalars(sa.select(Attendance.member_id).where(
            Attendance.meeting_id == committee.id))) == {site["m1"].id, site["m2"].id}
        # a group meeting names its people, then the group's previous invitees are the default
        with pytest.raises(InvalidInput):
            schedule(site, MeetingKind.group_meeting, org="g1", hold=False)
        first = schedule(site, MeetingKind.group_meeting, org="g1", hold=False,
                         member_ids=[site["m2"].id, site["m3"].id])
        second = schedule(site, MeetingKind.group_meeting, org="g1", hold=False,
                          starts=NOW + dt.timedelta(days=3))
        for meeting in (first, second):
            assert set(db.session.scalars(sa.select(Attendance.member_id).where(
                Attendance.meeting_id == meeting.id))) == {site["m2"].id, site["m3"].id}
        with pytest.raises(InvalidInput) as outsider:
            schedule(site, MeetingKind.talks, hold=False, member_ids=[site["s2"].id])
        assert "member_ids" in outsider.value.errors
        with pytest.raises(InvalidInput) as wrong_kind:
            schedule(site, MeetingKind.group_meeting, org="b1", hold=False,
                     member_ids=[site["m2"].id])
        assert "kind" in wrong_kind.value.errors


# --- check-in ----------------------------------------------------------------------------


def test_check_in_only_in_the_window_with_the_code_and_only_once(site):
    starts = NOW + dt.timedelta(hours=2)
    with in_tenant(site):
        meeting = schedule(site, starts=starts, hold=False)
        code = meeting.checkin_code
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        me = member_principal(site, "m2")
        with pytest.raises(Conflict):  # 2 hours early: closed
            services.check_in(me, meeting.id, code, now=NOW)
        opens = starts - services.CHECKIN_OPENS_BEFORE
        with pytest.raises(InvalidInput):
            services.check_in(me, meeting.id, wrong, now=opens)
        row = services.check_in(me, meeting.id, code, now=opens)
        assert row.status == AttendanceStatus.present and row.checked_in_at == opens
        again = services.check_in(me, meeting.id, code, now=opens + dt.timedelta(minutes=5))
        assert again.id == row.id and again.checked_in_at == opens
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.member_id == site["m2"].id)) == 1
        late = meeting.ends_at + dt.timedelta(seconds=1)
        with pytest.raises(Conflict):
            services.check_in(member_principal(site, "m3"), meeting.id, code, now=late)
        with pytest.raises(NotFound):  # B2's member is not invited and sees nothing
            services.check_in(member_principal(site, "s2"), meeting.id, code, now=opens)
        found = services.find_open_invitation(member_principal(site, "m3"), code, now=opens)
        assert found.id == meeting.id


def test_check_in_over_the_api_is_idempotent_and_refusals_change_nothing(client, site, session):
    with in_tenant(site):
        meeting = schedule(site, starts=services.now_utc() - dt.timedelta(minutes=10),
                           now=services.now_utc(), hold=False)
        meeting_id, code = meeting.id, meeting.checkin_code
        session.commit()
    url = f"/api/meetings/{meeting_id}/checkin"
    bad = client.post(url, json={"code": "12"}, headers=site["h"]["member_2"])
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = client.post(url, json={"code": wrong}, headers=site["h"]["member_2"])
    assert r.status_code == 422 and r.json["errors"] == {"code": ["Wrong code."]}
    sheet = client.get(f"/api/meetings/{meeting_id}/attendance", headers=site["h"]["admin_b1"])
    assert {row["status"] for row in sheet.json["items"]} == {"invited"}
    first = client.post(url, json={"code": code}, headers=site["h"]["member_2"])
    assert first.status_code == 200 and first.json["status"] == "present"
    second = client.post(url, json={"code": code}, headers=site["h"]["member_2"])
    assert second.json == first.json
    # another branch's secretary does not even see the meeting
    assert client.post(url, json={"code": code}, headers=site["h"]["admin_b2"]).status_code == 404
    mine = client.get("/api/me/meetings", headers=site["h"]["member_2"]).json
    assert mine["items"][0]["attendance"] == "present"


def test_wrong_codes_are_limited_per_member_and_a_success_clears_the_count(site, monkeypatch):
    starts = NOW + dt.timedelta(hours=2)
    opens = starts - services.CHECKIN_OPENS_BEFORE
    with in_tenant(site):
        meeting = schedule(site, starts=starts, hold=False)
        code = meeting.checkin_code
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        me = member_principal(site, "m2")

        def fail(principal: Principal) -> int:
            with pytest.raises(services.WrongCheckinCode) as caught:
                services.check_in(principal, meeting.id, wrong, now=opens)
            assert caught.value.meeting_ids == [meeting.id]
            return services.note_checkin_failure(principal, caught.value.meeting_ids)

        assert [fail(me) for _ in range(3)] == [4, 3, 2]
        services.check_in(me, meeting.id, code, now=opens)  # a success clears the member's count
        assert db.session.get(CheckinFailure, f"checkin:member:{site['tenant'].id}:"
                                               f"{site['m2'].id}") is None
        other = member_principal(site, "m3")
        assert [fail(other) for _ in range(services.CHECKIN_MAX_FAILURES)] == [4, 3, 2, 1, 0]
        with pytest.raises(TooManyAttempts) as locked:  # even the right code, until later
            services.check_in(other, meeting.id, code, now=opens)
        assert locked.value.status == 429
        assert 0 < int(locked.value.headers["Retry-After"]) <= services.CHECKIN_WINDOW + 1
        with pytest.raises(TooManyAttempts):  # entering the code alone is locked as well
            services.find_open_invitation(other, code, now=opens)
        # the failures are recorded without the code
        keys = list(db.session.scalars(sa.select(CheckinFailure.key)))
        assert keys and not any(code in key or wrong in key for key in keys)
        # the meeting counts every member's failures: at its limit, nobody checks in by code
        monkeypatch.setattr(services, "CHECKIN_MEETING_MAX_FAILURES", 9)
        fail(member_principal(site, "m1"))
        with pytest.raises(TooManyAttempts):
            services.check_in(member_principal(site, "m1"), meeting.id, code, now=opens)
        # the secretary still marks attendance
        row = services.mark_attendance(admin_of(site, "b1"), meeting, site["m3"].id,
                                       AttendanceStatus.present, now=opens)
        assert row.status == AttendanceStatus.present


def test_a_wrong_code_entered_alone_counts_for_every_open_invitation(site):
    starts = NOW + dt.timedelta(hours=1)
    with in_tenant(site):
        first = schedule(site, starts=starts, hold=False)
        second = schedule(site, MeetingKind.theme_day, starts=starts, hold=False)
        wrong = next(f"{n:06d}" for n in range(10**6)
                     if f"{n:06d}" not in (first.checkin_code, second.checkin_code))
        me = member_principal(site, "m2")
        with pytest.raises(services.WrongCheckinCode) as caught:
            services.find_open_invitation(me, wrong, now=starts)
        assert sorted(caught.value.meeting_ids) == sorted([first.id, second.id])
        services.note_checkin_failure(me, caught.value.meeting_ids)
        tenant_id = site["tenant"].id
        assert {key: row.failures for key, row in (
            (key, db.session.get(CheckinFailure, key)) for key in (
                f"checkin:member:{tenant_id}:{site['m2'].id}",
                f"checkin:meeting:{tenant_id}:{first.id}",
                f"checkin:meeting:{tenant_id}:{second.id}"))} == {
            f"checkin:member:{tenant_id}:{site['m2'].id}": 1,
            f"checkin:meeting:{tenant_id}:{first.id}": 1,
            f"checkin:meeting:{tenant_id}:{second.id}": 1}


def test_check_in_attempts_over_the_api_are_counted_and_then_refused(client, site, session):
    with in_tenant(site):
        meeting = schedule(site, starts=services.now_utc() - dt.timedelta(minutes=10),
                           now=services.now_utc(), hold=False)
        meeting_id, code = meeting.id, meeting.checkin_code
        session.commit()
    url = f"/api/meetings/{meeting_id}/checkin"
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    left = []
    for _ in range(services.CHECKIN_MAX_FAILURES):
        r = client.post(url, json={"code": wrong}, headers=site["h"]["member_2"])
        assert r.status_code == 422 and r.json["errors"] == {"code": ["Wrong code."]}
        left.append(r.json["attempts_left"])
    assert left == [4, 3, 2, 1, 0]  # each failure held, though the request was refused
    r = client.post(url, json={"code": code}, headers=site["h"]["member_2"])
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.json["code"] == "too-many-attempts" and int(r.headers["Retry-After"]) > 0
    sheet = client.get(f"/api/meetings/{meeting_id}/attendance", headers=site["h"]["admin_b1"])
    assert {row["status"] for row in sheet.json["items"]} == {"invited"}
    # another member is not locked out
    ok = client.post(url, json={"code": code}, headers=site["h"]["member_3"])
    assert ok.status_code == 200 and ok.json["status"] == "present"
    with in_tenant(site):
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.after.is_not(None), sa.cast(AuditEntry.after, sa.String).contains(
                wrong)))


# --- attendance sheet ----------------------------------------------------------------------


def test_the_secretary_marks_attendance_and_the_rate_follows(client, site, session):
    with in_tenant(site):
        meeting = schedule(site)
        session.commit()
    base = f"/api/meetings/{meeting.id}/attendance"
    h = site["h"]["admin_b1"]
    assert client.put(f"{base}/{site['m1'].id}", json={"status": "present"},
                      headers=h).status_code == 200
    excused = client.put(f"{base}/{site['m2'].id}", json={"status": "excused"}, headers=h)
    assert excused.status_code == 422 and "reason" in excused.json["errors"]
    assert client.put(f"{base}/{site['m2'].id}", json={"status": "excused", "reason": "出差"},
                      headers=h).status_code == 200
    # a party member of the branch who was not invited is added; an outsider is not
    assert client.put(f"{base}/{site['applicant'].id}", json={"status": "present"},
                      headers=h).status_code == 200
    assert client.put(f"{base}/{site['s2'].id}", json={"status": "present"},
                      headers=h).status_code == 422
    sheet = client.get(base, headers=h).json
    assert sheet["tally"] == {"invited": 4, "present": 2, "excused": 1, "absent": 1,
                              "rate": 0.5}
    # invitees read the meeting but not the others' attendance; a viewer reads it
    assert client.get(base, headers=site["h"]["member_2"]).status_code == 403
    assert client.get(base, headers=site["h"]["viewer_c"]).status_code == 200
    assert client.put(f"{base}/{site['m3'].id}", json={"status": "present"},
                      headers=site["h"]["viewer_c"]).status_code == 403
    with in_tenant(site):
        marks = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "meeting.attendance",
            AuditEntry.entity_id == meeting.id)).all()
    assert len(marks) == 3


# --- API input and reach -------------------------------------------------------------------


def _count(session, site) -> int:
    with in_tenant(site):
        return session.scalar(sa.select(sa.func.count()).select_from(Meeting)) or 0


@pytest.mark.parametrize(("body", "field"), [
    ({"ends_at": "2026-05-01T18:00"}, "ends_at"),
    ({"kind": "coffee"}, "kind"),
    ({"starts_at": "yesterday"}, "starts_at"),
    ({"online_url": "javascript:alert(1)", "place": None}, "online_url"),
    ({"place": None}, "place"),
    ({"org_id": 2**31 - 1}, "org_id"),
    ({"title": ""}, "title"),
    ({"member_ids": ["x"]}, "member_ids"),
])
def test_bad_meetings_are_refused_with_problem_details_and_change_nothing(
        client, site, session, body, field):
    before = _count(session, site)
    payload = {"org_id": site["b1"].id, "kind": "member_assembly", "title": "支部党员大会",
               "starts_at": "2026-12-01T19:00", "ends_at": "2026-12-01T21:00",
               "place": "党员活动室", **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    r = client.post("/api/meetings", json=payload, headers=site["h"]["admin_b1"])
    assert r.status_code == 422, r.json
    assert r.mimetype == "application/problem+json"
    assert field in r.json["errors"] or field in r.json["errors"].get("json", {})
    assert _count(session, site) == before


def test_times_without_an_offset_are_china_time(client, site):
    r = client.post("/api/meetings", json={
        "org_id": site["b1"].id, "kind": "theme_day", "title": "主题党日",
        "starts_at": "2026-12-01T09:00", "ends_at": "2026-12-01T11:30", "place": "社区"},
        headers=site["h"]["admin_b1"])
    assert r.status_code == 201, r.json
    assert dt.datetime.fromisoformat(r.json["starts_at"]) == dt.datetime(2026, 12, 1, 1,
                                                                          tzinfo=dt.UTC)
    assert r.json["checkin_code"] and len(r.json["checkin_code"]) == 6
    member = client.get(f"/api/meetings/{r.json['id']}", headers=site["h"]["member_2"])
    assert member.status_code == 200 and member.json["checkin_code"] is None
    assert member.json["my_attendance"] == "invited"


def test_a_secretary_cannot_see_a_sibling_branchs_meeting(client, site, session):
    with in_tenant(site):
        meeting = schedule(site, org="b2")
        session.commit()
    for who, status in [("admin_b1", 404), ("member_2", 404), ("admin_b2", 200),
                        ("admin_c", 200), ("viewer_c", 200)]:
        r = client.get(f"/api/meetings/{meeting.id}", headers=site["h"][who])
        assert r.status_code == status, who
        listed = client.get("/api/meetings?limit=200", headers=site["h"][who]).json["items"]
        assert any(m["id"] == meeting.id for m in listed) is (status == 200)
    r = client.patch(f"/api/meetings/{meeting.id}", json={"title": "改"},
                     headers=site["h"]["admin_b1"])
    assert r.status_code == 404
    r = client.patch(f"/api/meetings/{meeting.id}", json={"title": "改"},
                     headers=site["h"]["viewer_c"])
    assert r.status_code == 403


def test_holding_cancelling_and_locked_records(client, site, session):
    future = services.now_utc() + dt.timedelta(days=2)
    with in_tenant(site):
        meeting_id = schedule(site, starts=future, now=services.now_utc(), hold=False).id
        session.commit()
    h = site["h"]["admin_b1"]
    assert client.post(f"/api/meetings/{meeting_id}/held", headers=h).status_code == 409
    assert client.post(f"/api/meetings/{meeting_id}/cancel", json={},
                       headers=h).status_code == 422
    r = client.post(f"/api/meetings/{meeting_id}/cancel", json={"reason": "台风"}, headers=h)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert client.patch(f"/api/meetings/{meeting_id}", json={"minutes": "x"},
                        headers=h).status_code == 409


def test_attachments_are_typed_and_bounded(client, site, session):
    with in_tenant(site):
        meeting = schedule(site)
        session.commit()
    url = f"/api/meetings/{meeting.id}/attachments"
    h = site["h"]["admin_b1"]

    def upload(content: bytes, name: str, mimetype: str) -> Any:
        return client.post(url, headers=h, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(content), name, mimetype)})

    assert upload(b"MZ....", "tool.exe", "application/x-msdownload").status_code == 422
    assert upload(b"x" * 3000, "big.pdf", "application/pdf").status_code == 413
    ok = upload(b"%PDF-1.4 minutes", "会议记录.pdf", "application/pdf")
    assert ok.status_code == 201, ok.json
    got = client.get(f"{url}/{ok.json['id']}", headers=site["h"]["member_3"])
    assert got.status_code == 200 and got.data == b"%PDF-1.4 minutes"
    assert client.get(f"{url}/{ok.json['id']}", headers=site["h"]["admin_b2"]).status_code == 404


# --- review --------------------------------------------------------------------------------


def test_review_by_the_committee_above_and_only_approved_meetings_count(site):
    with in_tenant(site):
        tenant = _tenant(site)
        tenant.rules = {**(tenant.rules or {}), "meeting_review": 1}
        meeting = schedule(site, MeetingKind.theme_day, starts=local(2026, 10, 10, 9))
        branch, committee = admin_of(site, "b1"), admin_of(site, "c")
        period = Period.parse("2026-10")

        def met() -> int:
            result = services.compliance(committee, tenant, period=period, now=NOW)
            return result.total.kinds[MeetingKind.theme_day].met

        assert met() == 0
        with pytest.raises(InvalidInput):  # no minutes yet
            services.submit_for_review(branch, meeting, tenant)
        services.update_meeting(branch, meeting, {"minutes": "学习了党章。"}, now=NOW)
        services.submit_for_review(branch, meeting, tenant)
        with pytest.raises(Forbidden):  # the branch does not approve its own record
            services.decide_review(branch, meeting, tenant, approve=True)
        with pytest.raises(InvalidInput):
            services.decide_review(committee, meeting, tenant, approve=False)
        services.decide_review(committee, meeting, tenant, approve=False, reason="补充记录")
        services.update_meeting(branch, meeting, {"minutes": "学习了党章，讨论了两件事。"},
                                now=NOW)
        services.submit_for_review(branch, meeting, tenant)
        with pytest.raises(Conflict):  # locked while under review
            services.update_meeting(branch, meeting, {"minutes": "改"}, now=NOW)
        services.decide_review(committee, meeting, tenant, approve=True)
        assert met() == 1


# --- periods and compliance ---------------------------------------------------------------


def test_periods_parse_and_step():
    assert Period.parse("2026-Q2").label == "2026-Q2"
    assert (Period.parse("2026-Q2").start, Period.parse("2026-Q2").end) == (
        dt.date(2026, 4, 1), dt.date(2026, 7, 1))
    assert Period.parse("2026-12").end == dt.date(2027, 1, 1)
    assert Period.parse("2026").shifted(-1).label == "2025"
    assert Period.parse("2026-Q1").shifted(-1).label == "2025-Q4"
    assert Period.parse("2026-01").shifted(-1).label == "2025-12"
    for bad in ("2026-Q5", "2026-13", "26", "1999", "2026-5", ""):
        with pytest.raises(InvalidInput):
            Period.parse(bad)


def _kinds(result: services.Compliance, code: str) -> dict[MeetingKind, tuple[int, int, int]]:
    row = next(r for r in result.branches if r.code == code)
    return {kind: (c.met, c.due, c.held) for kind, c in row.kinds.items()}


def test_compliance_across_month_quarter_and_year_boundaries(site):
    """A meeting at 23:30 on 31 March (China time) is March's and Q1's, one at 00:10 on
    1 April April's and Q2's, whatever the UTC date says."""
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        schedule(site, MeetingKind.theme_day, starts=local(2026, 3, 31, 23, 30), hours=1)
        schedule(site, MeetingKind.theme_day, starts=local(2026, 4, 1, 0, 10), hours=1)
        schedule(site, MeetingKind.member_assembly, starts=local(2026, 2, 10, 19))
        schedule(site, MeetingKind.life_meeting, starts=local(2026, 12, 31, 20), hours=2,
                 now=local(2027, 1, 5, 9))
        code = site["b1"].code

        def at(label: str) -> dict[MeetingKind, tuple[int, int, int]]:
            return _kinds(services.compliance(viewer, tenant, period=Period.parse(label),
                                              now=local(2027, 1, 5, 9)), code)

        assert at("2026-03")[MeetingKind.theme_day] == (1, 1, 1)
        assert at("2026-04")[MeetingKind.theme_day] == (1, 1, 1)
        assert at("2026-05")[MeetingKind.theme_day] == (0, 1, 0)
        q1, q2 = at("2026-Q1"), at("2026-Q2")
        assert q1[MeetingKind.theme_day] == (1, 3, 1)  # January and February were missed
        assert q2[MeetingKind.theme_day] == (1, 3, 1)
        assert q1[MeetingKind.member_assembly] == (1, 1, 1)
        assert q2[MeetingKind.member_assembly] == (0, 1, 0)
        # the quarterly window is owed in the month it ends: March, not February
        assert at("2026-02")[MeetingKind.member_assembly] == (0, 0, 1)
        assert at("2026-03")[MeetingKind.member_assembly] == (1, 1, 0)
        year = at("2026")
        assert year[MeetingKind.theme_day] == (2, 12, 2)
        assert year[MeetingKind.member_assembly] == (1, 4, 1)
        assert year[MeetingKind.life_meeting] == (1, 1, 1)  # 31 Dec, 20:00 China time
        assert at("2027")[MeetingKind.life_meeting] == (0, 0, 0)


def test_a_period_in_progress_owes_only_the_windows_that_ended(site):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        schedule(site, MeetingKind.theme_day, starts=local(2026, 11, 3, 9), now=NOW)
        result = services.compliance(viewer, tenant, period=Period.parse("2026-Q4"), now=NOW)
        row = next(r for r in result.branches if r.code == site["b1"].code)
        theme = row.kinds[MeetingKind.theme_day]
        # October missed and due; November met; December still to come
        assert (theme.met, theme.due, theme.open) == (1, 2, 1)
        assembly = row.kinds[MeetingKind.member_assembly]
        assert (assembly.met, assembly.due, assembly.open) == (0, 0, 1)


def test_a_branch_founded_mid_quarter_owes_only_the_windows_after_its_founding(site, world):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        update_org(world.root_principal(site["tenant"]), db.session.get(Org, site["b2"].id),
                   {"founded_on": dt.date(2026, 5, 15)})
        schedule(site, MeetingKind.theme_day, org="b2", starts=local(2026, 5, 20, 9))
        schedule(site, MeetingKind.member_assembly, org="b2", starts=local(2026, 5, 25, 9))
        code = site["b2"].code

        def at(label: str) -> dict[MeetingKind, tuple[int, int, int]]:
            return _kinds(services.compliance(viewer, tenant, period=Period.parse(label),
                                              now=NOW), code)

        q2 = at("2026-Q2")
        assert q2[MeetingKind.theme_day] == (0, 1, 1)  # June owed and missed; May not owed
        assert q2[MeetingKind.member_assembly] == (0, 0, 1)  # Q2 started before it
        q3 = at("2026-Q3")
        assert q3[MeetingKind.theme_day] == (0, 3, 0)
        assert q3[MeetingKind.member_assembly] == (0, 1, 0)
        assert at("2026")[MeetingKind.life_meeting] == (0, 0, 0)  # the year began before it
        q1 = services.compliance(viewer, tenant, period=Period.parse("2026-Q1"), now=NOW)
        assert code not in {r.code for r in q1.branches}


def test_branches_with_no_activity_for_three_months_are_flagged(site, world):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        schedule(site, MeetingKind.theme_day, org="b1", starts=local(2026, 9, 1, 9))
        schedule(site, MeetingKind.theme_day, org="b2", starts=local(2026, 7, 1, 9))
        result = services.compliance(viewer, tenant, period=Period.parse("2026-Q4"), now=NOW)
        flags = {r.code: r.inactive for r in result.branches}
        assert flags == {site["b1"].code: False, site["b2"].code: True}
        assert result.total.inactive_branches == 1
        # a group's meeting is its branch's activity
        schedule(site, MeetingKind.group_meeting, org="g1", starts=local(2026, 11, 1, 9),
                 member_ids=[site["m2"].id])
        update_org(world.root_principal(site["tenant"]), db.session.get(Org, site["b2"].id),
                   {"founded_on": dt.date(2026, 9, 1)})  # too young to be flagged
        result = services.compliance(viewer, tenant, period=Period.parse("2026-Q4"), now=NOW)
        b1 = next(r for r in result.branches if r.code == site["b1"].code)
        assert b1.last_held_on == dt.date(2026, 11, 1)
        assert {r.code: r.inactive for r in result.branches}[site["b2"].code] is False


def test_attendance_rates_and_roll_up_by_subtree(site, world):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        m1 = schedule(site, MeetingKind.theme_day, starts=local(2026, 10, 10, 9))
        m2 = schedule(site, MeetingKind.theme_day, org="b2", starts=local(2026, 10, 11, 9))
        admin = admin_of(site, "c")
        services.mark_attendance(admin, m1, site["m1"].id, AttendanceStatus.present, now=NOW)
        services.mark_attendance(admin, m1, site["m2"].id, AttendanceStatus.excused, "病假",
                                 now=NOW)
        services.mark_attendance(admin, m2, site["s2"].id, AttendanceStatus.present, now=NOW)
        period = Period.parse("2026-10")
        result = services.compliance(viewer, tenant, period=period, now=NOW,
                                     org_id=site["c"].id)
        rows = {r.code: r.attendance for r in result.branches}
        assert (rows[site["b1"].code].invited, rows[site["b1"].code].present,
                rows[site["b1"].code].excused, rows[site["b1"].code].absent) == (3, 1, 1, 1)
        assert rows[site["b2"].code].rate == 1.0
        assert result.total.attendance.rate == 0.5  # 2 of 4
        assert result.total.branches == 2
        assert result.total.kinds[MeetingKind.theme_day].met == 2
        # the tenant root sees C's subtree as one child
        root = services.compliance(
            Principal(account_id=0, tenant_id=tenant.id, username="t",
                      grants=((Role.tenant_admin, tenant.code_prefix),)),
            tenant, period=period, now=NOW, org_id=world.root(site["tenant"]).id)
        (child,) = root.children
        assert child.code == site["c"].code and child.branches == 2
        assert child.attendance == result.total.attendance
        # a secretary sees only its own branch; a sibling's subtree is refused
        own = services.compliance(admin_of(site, "b1"), tenant, period=period, now=NOW)
        assert [r.code for r in own.branches] == [site["b1"].code]
        with pytest.raises(Forbidden):
            services.compliance(admin_of(site, "b1"), tenant, period=period, now=NOW,
                                org_id=site["b2"].id)


def test_compliance_over_the_api(client, site, session):
    with in_tenant(site):
        schedule(site, MeetingKind.theme_day, starts=local(2026, 10, 10, 9))
        session.commit()
    r = client.get(f"/api/meetings/compliance?org_id={site['c'].id}&period=2026-10",
                   headers=site["h"]["viewer_c"])
    assert r.status_code == 200, r.json
    assert r.json["period"] == "2026-10" and r.json["end"] == "2026-11-01"
    b1 = next(b for b in r.json["branches"] if b["org_id"] == site["b1"].id)
    assert b1["kinds"]["theme_day"] == {"due": 1, "met": 1, "held": 1, "open": 0,
                                        "shared": 0}
    assert r.json["cadence"]["member_assembly"] == 3
    bad = client.get("/api/meetings/compliance?period=2026-Q7", headers=site["h"]["viewer_c"])
    assert bad.status_code == 422 and "period" in bad.json["errors"]
    assert client.get(f"/api/meetings/compliance?org_id={site['b2'].id}",
                      headers=site["h"]["admin_b1"]).status_code == 403
    assert client.get("/api/meetings/compliance",
                      headers=site["h"]["member_2"]).status_code == 403


def test_cadence_settings_are_validated(site):
    from node.tenants.services import update_tenant_settings

    with in_tenant(site):
        tenant = _tenant(site)
        admin = Principal(account_id=0, tenant_id=tenant.id, username="t",
                          grants=((Role.tenant_admin, tenant.code_prefix),))
        with pytest.raises(InvalidInput) as refused:
            update_tenant_settings(admin, tenant, name=tenant.name, brand_color=None,
                                   logo_text=None, rules={"cadence_theme_day": 5})
        assert "cadence_theme_day" in refused.value.errors
        update_tenant_settings(admin, tenant, name=tenant.name, brand_color=None,
                               logo_text=None, rules={"cadence_party_lecture": 6})
        assert services.cadences(tenant)[MeetingKind.party_lecture] == 6
        assert tenant.rules == {"cadence_party_lecture": 6}  # defaults are not stored


def test_compliance_costs_the_same_queries_for_2_or_12_branches(site, world, connection):
    def queries(period: Period) -> int:
        seen: list[str] = []

        def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        with in_tenant(site):
            tenant, viewer = _tenant(site), admin_of(site, "c")
            sa.event.listen(connection, "before_cursor_execute", listener)
            try:
                services.compliance(viewer, tenant, period=period, now=NOW,
                                    org_id=site["c"].id)
            finally:
                sa.event.remove(connection, "before_cursor_execute", listener)
        return len(seen)

    with in_tenant(site):
        schedule(site, MeetingKind.theme_day, starts=local(2026, 10, 10, 9))
    small = queries(Period.parse("2026-Q4"))
    for _ in range(10):
        branch = world.org(site["tenant"], site["c"])
        world.member(site["tenant"], branch)
        with in_tenant(site):
            schedule(site, MeetingKind.theme_day, org="b2", starts=local(2026, 11, 2, 9))
    # 10 with the two for lectures and theme days held above (`_shared_meetings`)
    assert queries(Period.parse("2026-Q4")) == small <= 10


# --- lectures and theme days held above, for the branches below -----------------------------


def test_a_committees_lecture_and_theme_day_count_for_each_invited_branch(site, world):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        empty = world.org(site["tenant"], site["c"])  # a branch with no members: not invited
        update_org(world.root_principal(site["tenant"]), db.session.get(Org, empty.id),
                   {"founded_on": dt.date(2020, 1, 1)})
        # 23:30 on 31 March (China time): March's and Q1's, though 15:30 UTC
        lecture = schedule(site, MeetingKind.party_lecture, org="c",
                           starts=local(2026, 3, 31, 23, 30), hours=1)
        assert {a.member_id for a in db.session.scalars(sa.select(Attendance).where(
            Attendance.meeting_id == lecture.id))} == {site[m].id for m in ("m1", "m2", "m3",
                                                                            "s2")}
        schedule(site, MeetingKind.theme_day, org="c", starts=local(2026, 4, 1, 0, 10), hours=1)
        # an assembly is the branch's own business: held by the committee it counts for none
        schedule(site, MeetingKind.member_assembly, org="c", starts=local(2026, 2, 10, 9))
        # not held, or cancelled: nothing
        schedule(site, MeetingKind.party_lecture, org="c", starts=local(2026, 5, 5, 9),
                 hold=False, now=local(2026, 5, 1, 9))
        later = local(2027, 1, 5, 9)

        def at(label: str, code: str, principal: Principal = viewer) -> Any:
            result = services.compliance(principal, tenant, period=Period.parse(label),
                                         now=later)
            return next(r for r in result.branches if r.code == code), result

        for branch in ("b1", "b2"):
            q1, _ = at("2026-Q1", site[branch].code)
            lecture_count = q1.kinds[MeetingKind.party_lecture]
            assert (lecture_count.met, lecture_count.due, lecture_count.held,
                    lecture_count.shared) == (1, 1, 0, 1)
            assert q1.kinds[MeetingKind.member_assembly].met == 0
            march, _ = at("2026-03", site[branch].code)
            assert march.kinds[MeetingKind.theme_day].met == 0  # the theme day is April's
            april, _ = at("2026-04", site[branch].code)
            assert (april.kinds[MeetingKind.theme_day].met,
                    april.kinds[MeetingKind.theme_day].shared) == (1, 1)
            q2, _ = at("2026-Q2", site[branch].code)
            assert q2.kinds[MeetingKind.party_lecture].met == 0  # March's lecture is Q1's
        lonely, result = at("2026-Q1", empty.code)
        assert lonely.kinds[MeetingKind.party_lecture].met == 0
        assert lonely.kinds[MeetingKind.party_lecture].shared == 0
        # the roll-up: met in both branches, held by none of them
        total = result.total.kinds[MeetingKind.party_lecture]
        assert (total.met, total.due, total.held, total.shared) == (2, 3, 0, 2)
        # a branch secretary, who reaches only the branch, sees it counted too
        own, _ = at("2026-Q1", site["b1"].code, admin_of(site, "b1"))
        assert own.kinds[MeetingKind.party_lecture].met == 1
        # and it is the branch's activity
        q2, _ = at("2026-Q2", site["b2"].code)
        assert q2.last_held_on == dt.date(2026, 4, 1)


def test_a_lecture_above_counts_for_a_branch_founded_mid_quarter_only_when_owed(site, world):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        update_org(world.root_principal(site["tenant"]), db.session.get(Org, site["b2"].id),
                   {"founded_on": dt.date(2026, 5, 15)})
        schedule(site, MeetingKind.party_lecture, org="c", starts=local(2026, 6, 10, 9))
        schedule(site, MeetingKind.party_lecture, org="c", starts=local(2026, 9, 30, 23, 30),
                 hours=1)

        def lectures(label: str) -> tuple[int, int, int]:
            row = next(r for r in services.compliance(
                viewer, tenant, period=Period.parse(label), now=NOW).branches
                if r.code == site["b2"].code)
            count = row.kinds[MeetingKind.party_lecture]
            return count.met, count.due, count.shared

        assert lectures("2026-Q2") == (0, 0, 1)  # Q2 began before the branch: not owed
        assert lectures("2026-Q3") == (1, 1, 1)  # 23:30 on 30 September is Q3's
        assert lectures("2026-Q4") == (0, 0, 0)  # Q4's window is still open on 21 November
        assert lectures("2026") == (1, 1, 2)


def test_a_lecture_above_counts_once_approved_where_the_tenant_reviews(site):
    with in_tenant(site):
        tenant, viewer = _tenant(site), admin_of(site, "c")
        tenant.rules = {**(tenant.rules or {}), "meeting_review": 1}
        schedule(site, MeetingKind.party_lecture, org="c", starts=local(2026, 10, 10, 9))
        result = services.compliance(viewer, tenant, period=Period.parse("2026-Q4"), now=NOW)
        assert result.total.kinds[MeetingKind.party_lecture].shared == 0
