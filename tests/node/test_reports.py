"""Monthly member reports on both backends: what a report says, generating it (idempotent,
only `force` rewrites a month), reading it through the API and the pages (own, in reach, out of
reach: 404), and a bounded number of statements whatever the number of members.

A fixed "today" (2025-10-15, China time) makes September 2025 the last ended month.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from node.db import db
from node.directives.models import Audience, Directive, DirectiveKind, DirectiveRead, Priority
from node.dues.models import DuesLine, LineStatus
from node.grants.models import Role
from node.meetings.models import (
    LOCAL_TZ,
    Attendance,
    AttendanceStatus,
    Meeting,
    MeetingKind,
    MeetingStatus,
)
from node.reports import services
from node.reports.models import MemberReport
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.errors import InvalidInput

TODAY = dt.date(2025, 10, 15)
SEPTEMBER = dt.date(2025, 9, 1)


def at(day: int, month: int = 9, hour: int = 19) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, tzinfo=LOCAL_TZ)


@dataclasses.dataclass
class Scene:
    tenant: Tenant
    b1: Any
    b2: Any
    member: Any  # B1: attended 2 of 3 held meetings, paid August not September, read one
    stranger: Any  # B2
    member_headers: dict[str, str]
    secretary_headers: dict[str, str]  # org_viewer of B1
    member_account: Any
    secretary_account: Any


def _meeting(org: Any, title: str, starts: dt.datetime,
             status: MeetingStatus = MeetingStatus.held) -> Meeting:
    meeting = Meeting(org_id=org.id, org_code=org.code, kind=MeetingKind.theme_day, title=title,
                      starts_at=starts, ends_at=starts + dt.timedelta(hours=2),
                      status=status, checkin_code="123456", created_at=starts)
    db.session.add(meeting)
    db.session.flush()
    return meeting


def _invite(meeting: Meeting, member: Any, status: AttendanceStatus,
            reason: str | None = None) -> None:
    db.session.add(Attendance(meeting_id=meeting.id, member_id=member.id, status=status,
                              reason=reason))


def _line(member: Any, org: Any, month: dt.date, status: LineStatus) -> None:
    db.session.add(DuesLine(member_id=member.id, org_id=org.id, org_code=org.code, month=month,
                            category="salaried", base=Decimal("3000"),
                            amount_due=Decimal("15.00"), rule_version="cpc-2008",
                            status=status,
                            paid_at=at(10) if status == LineStatus.paid else None))


@pytest.fixture()
def scene(world: Any) -> Scene:
    tenant = world.tenant()
    root = world.root(tenant)
    committee = world.org(tenant, root, "committee")
    b1 = world.org(tenant, committee, "branch", name="第一党支部")
    b2 = world.org(tenant, committee, "branch", name="第二党支部")
    member = world.member(tenant, b1, name="张三")
    stranger = world.member(tenant, b2, name="李四")
    member_account = world.account(tenant, member=member)
    secretary_account = world.account(tenant, grants=[(Role.org_viewer, b1)])
    with tenant_context(tenant.id):
        first = _meeting(b1, "九月主题党日", at(5))
        second = _meeting(b1, "支部党员大会", at(12))
        third = _meeting(b1, "党课", at(26))
        cancelled = _meeting(b1, "取消的会议", at(20), MeetingStatus.cancelled)
        august = _meeting(b1, "八月主题党日", at(20, month=8))
        _invite(first, member, AttendanceStatus.present)
        _invite(second, member, AttendanceStatus.excused, "出差")
        _invite(third, member, AttendanceStatus.present)
        _invite(cancelled, member, AttendanceStatus.invited)
        _invite(august, member, AttendanceStatus.absent)
        for meeting in (first, second, third):
            _invite(meeting, stranger, AttendanceStatus.invited)
        _line(member, b1, dt.date(2025, 8, 1), LineStatus.paid)
        _line(member, b1, SEPTEMBER, LineStatus.unpaid)
        directive = Directive(hub_id=7, kind=DirectiveKind.study, title="学习材料", body="",
                              links=[], priority=Priority.normal, pinned=False,
                              audience=Audience.all, published_at=at(2), received_at=at(2))
        db.session.add(directive)
        db.session.flush()
        db.session.add(DirectiveRead(directive_id=directive.id, account_id=member_account.id,
                                     member_id=member.id, read_at=at(3), completed_at=at(4)))
        db.session.commit()
    return Scene(tenant, b1, b2, member, stranger, world.token(member_account),
                 world.token(secretary_account), member_account, secretary_account)


def _generate(scene: Scene, *, force: bool = False, org: Any = None) -> services.Generated:
    with tenant_context(scene.tenant.id):
        tenant = db.session.get(Tenant, scene.tenant.id)
        done = services.generate(tenant, SEPTEMBER, force=force, today=TODAY,
                                 org=db.session.get(type(org), org.id) if org else None)
        db.session.commit()
    return done


def _report(scene: Scene, member: Any) -> MemberReport:
    db.session.expire_all()  # a replaced row may reuse the old one's id (SQLite)
    with tenant_context(scene.tenant.id):
        return db.session.scalars(sa.select(MemberReport).where(
            MemberReport.member_id == member.id, MemberReport.month == SEPTEMBER)).one()


def test_the_report_says_what_the_member_took_part_in_and_owes(scene: Scene) -> None:
    done = _generate(scene)
    assert (done.generated, done.skipped, done.replaced) == (2, 0, 0)
    report = _report(scene, scene.member)
    assert (report.meetings_invited, report.meetings_attended, report.meetings_excused,
            report.meetings_missed) == (3, 2, 1, 0)
    assert report.attendance_rate == pytest.approx(0.6667)
    assert [(a["title"], a["status"], a["reason"]) for a in report.absences] == [
        ("支部党员大会", "excused", "出差")]
    assert (report.dues_due, report.dues_paid, report.dues_status) == (
        Decimal("15.00"), Decimal("0.00"), "unpaid")
    assert (report.arrears_months, report.arrears_total) == (1, Decimal("15.00"))
    assert (report.directives_received, report.directives_read,
            report.directives_completed) == (1, 1, 1)
    assert (report.org_code, report.org_name) == (scene.b1.code, "第一党支部")
    stranger = _report(scene, scene.stranger)
    assert (stranger.meetings_invited, stranger.meetings_attended, stranger.meetings_missed) == (
        3, 0, 3)
    assert [a["status"] for a in stranger.absences] == ["invited"] * 3
    assert stranger.dues_due is None and stranger.dues_status is None
    assert stranger.directives_read == 0


def test_generating_again_keeps_the_stored_month_unless_forced(scene: Scene) -> None:
    _generate(scene)
    with tenant_context(scene.tenant.id):
        db.session.execute(sa.update(DuesLine).values(status=LineStatus.paid))
        db.session.execute(sa.update(Attendance).values(status=AttendanceStatus.present))
        db.session.commit()
    again = _generate(scene)
    assert (again.generated, again.skipped, again.replaced) == (0, 2, 0)
    kept = _report(scene, scene.member)
    assert (kept.meetings_attended, kept.dues_status) == (2, "unpaid")
    forced = _generate(scene, force=True)
    assert (forced.generated, forced.skipped, forced.replaced) == (2, 0, 2)
    replaced = _report(scene, scene.member)
    assert (replaced.meetings_attended, replaced.meetings_missed, replaced.dues_status,
            replaced.arrears_months, replaced.absences) == (3, 0, "paid", 0, [])
    with tenant_context(scene.tenant.id):
        assert db.session.scalar(sa.select(sa.func.count(MemberReport.id))) == 2


def test_a_subtree_is_generated_alone(scene: Scene) -> None:
    done = _generate(scene, org=scene.b2)
    assert done.generated == 1
    with tenant_context(scene.tenant.id):
        assert db.session.scalars(sa.select(MemberReport.member_id)).all() == [scene.stranger.id]


def test_a_month_that_has_not_ended_is_refused(scene: Scene) -> None:
    with tenant_context(scene.tenant.id), pytest.raises(InvalidInput):
        services.generate(db.session.get(Tenant, scene.tenant.id), dt.date(2025, 10, 1),
                          today=TODAY)
    with tenant_context(scene.tenant.id):
        assert db.session.scalar(sa.select(sa.func.count(MemberReport.id))) == 0


# --- the API ----------------------------------------------------------------------------------


def test_the_member_reads_their_reports(client: Any, scene: Scene) -> None:
    _generate(scene)
    listing = client.get("/api/me/reports", headers=scene.member_headers)
    assert listing.status_code == 200
    assert [(i["month"], i["meetings_attended"]) for i in listing.json["items"]] == [
        ("2025-09", 2)]
    one = client.get("/api/me/reports/2025-09", headers=scene.member_headers)
    assert one.status_code == 200
    body = one.json
    assert (body["meetings_invited"], body["meetings_excused"], body["dues_due"],
            body["arrears_total"], body["directives_completed"]) == (3, 1, "15.00", "15.00", 1)
    assert body["absences"][0]["reason"] == "出差"


@pytest.mark.parametrize(("path", "status"), [
    ("/api/me/reports/2025-13", 422), ("/api/me/reports/september", 422),
    ("/api/me/reports/2025-08", 404)])
def test_bad_months_are_problems(client: Any, scene: Scene, path: str, status: int) -> None:
    _generate(scene)
    response = client.get(path, headers=scene.member_headers)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status


def test_an_account_without_a_member_record_has_no_reports(client: Any, scene: Scene) -> None:
    response = client.get("/api/me/reports", headers=scene.secretary_headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_a_secretary_reads_members_in_reach_only(client: Any, scene: Scene, world: Any) -> None:
    _generate(scene)
    own = client.get(f"/api/reports/members/{scene.member.id}/2025-09",
                     headers=scene.secretary_headers)
    assert own.status_code == 200 and own.json["meetings_attended"] == 2
    listing = client.get(f"/api/reports/members/{scene.member.id}",
                         headers=scene.secretary_headers)
    assert [i["month"] for i in listing.json["items"]] == ["2025-09"]
    for path in (f"/api/reports/members/{scene.stranger.id}/2025-09",
                 f"/api/reports/members/{scene.stranger.id}"):
        sibling = client.get(path, headers=scene.secretary_headers)
        assert sibling.status_code == 404
        assert sibling.content_type == "application/problem+json"
        assert "李四" not in sibling.text
    # A plain member is no secretary, even of their own branch; another tenant sees nothing.
    assert client.get(f"/api/reports/members/{scene.member.id}/2025-09",
                      headers=scene.member_headers).status_code == 404
    other = world.tenant()
    outsider = world.token(world.account(other, grants=[(Role.tenant_admin, world.root(other))]))
    assert client.get(f"/api/reports/members/{scene.member.id}/2025-09",
                      headers=outsider).status_code == 404


# --- the pages --------------------------------------------------------------------------------


def _sign_in(client: Any, scene: Scene, account: Any) -> None:
    base = f"/t/{scene.tenant.slug}"
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"{base}/login").text)
    assert match is not None
    token = match.group(1)
    response = client.post(f"{base}/login", data={
        "username": account.username, "password": "correct-horse-1", "csrf_token": token})
    assert response.status_code == 303


def test_the_card_shows_the_report_and_it_downloads(client: Any, scene: Scene) -> None:
    _generate(scene)
    _sign_in(client, scene, scene.member_account)
    base = f"/t/{scene.tenant.slug}"
    card = client.get(f"{base}/me")
    assert card.status_code == 200
    assert f"{base}/me/reports/2025-09" in card.text
    page = client.get(f"{base}/me/reports/2025-09")
    assert page.status_code == 200
    assert "出差" in page.text and "张三" in page.text
    download = client.get(f"{base}/me/reports/2025-09/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(download.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1] == "2025-09"
    assert any(row[1] == 2 for row in rows)  # attended
    assert any(row[3] == "出差" for row in rows if len(row) > 3)
    assert client.get(f"{base}/me/reports/2025-08").status_code == 404


def test_a_secretary_cannot_open_a_sibling_branch_report_page(client: Any, scene: Scene) -> None:
    _generate(scene)
    _sign_in(client, scene, scene.secretary_account)
    base = f"/t/{scene.tenant.slug}"
    assert client.get(f"{base}/console/members/{scene.member.id}/reports/2025-09"
                      ).status_code == 200
    for suffix in ("", "/download"):
        response = client.get(
            f"{base}/console/members/{scene.stranger.id}/reports/2025-09{suffix}")
        assert response.status_code == 404
        assert "李四" not in response.text


# --- a bounded number of statements -------------------------------------------------------------


def _statements(connection: sa.Connection, work: Any) -> int:
    count = 0

    def counter(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal count
        if not statement.startswith(("SAVEPOINT", "RELEASE")):  # the test's harness
            count += 1

    sa.event.listen(connection, "before_cursor_execute", counter)
    try:
        work()
    finally:
        sa.event.remove(connection, "before_cursor_execute", counter)
    return count


def test_generating_costs_the_same_statements_for_10_or_200_members(
        world: Any, connection: sa.Connection) -> None:
    tenant = world.tenant()
    branch = world.org(tenant, world.root(tenant), "branch")
    counts = []
    for size in (10, 200):
        _grow(tenant, branch, size)
        with tenant_context(tenant.id):
            loaded = db.session.get(Tenant, tenant.id)
            assert loaded is not None and loaded.code_prefix  # loaded before counting
            month = dt.date(2025, 8, 1) if size == 10 else dt.date(2025, 7, 1)
            found: list[services.Generated] = []
            counts.append(_statements(connection, functools.partial(
                lambda out, tenant, month: out.append(
                    services.generate(tenant, month, today=TODAY)), found, loaded, month)))
            assert found[0].generated == size
            db.session.commit()
    assert counts[0] == counts[1]
    assert counts[1] <= 12  # ten statements today, for any number of members


def _grow(tenant: Tenant, branch: Any, size: int) -> None:
    """Members (full, active) with a meeting invitation and a dues line each, in bulk."""
    from node.members.models import Gender, Member, Stage, Status

    with tenant_context(tenant.id):
        have = db.session.scalar(sa.select(sa.func.count(Member.id))) or 0
        rows = [{"tenant_id": tenant.id, "member_number": f"{tenant.code_prefix}{n:08d}",
                 "org_id": branch.id, "org_code": branch.code, "name": f"党员{n}",
                 "gender": Gender.male, "birth_date": dt.date(1980, 1, 1),
                 "national_id_cipher": f"c{tenant.id}-{n}", "national_id_hash": f"h{tenant.id}-{n}",
                 "national_id_masked": "110***********0011", "stage": Stage.full,
                 "status": Status.active} for n in range(have + 1, size + 1)]
        ids = list(db.session.scalars(sa.insert(Member).returning(Member.id), rows))
        meeting = _meeting(branch, "主题党日", at(10, month=7))
        db.session.execute(sa.insert(Attendance), [
            {"tenant_id": tenant.id, "meeting_id": meeting.id, "member_id": i,
             "status": AttendanceStatus.absent, "updated_at": at(10)} for i in ids])
        db.session.execute(sa.insert(DuesLine), [
            {"tenant_id": tenant.id, "member_id": i, "org_id": branch.id,
             "org_code": branch.code, "month": dt.date(2025, 7, 1), "category": "salaried",
             "base": Decimal("3000"), "amount_due": Decimal("15.00"),
             "rule_version": "cpc-2008", "status": "unpaid"} for i in ids])
        db.session.commit()


# --- the command and the relay's job ----------------------------------------------------------


def test_the_job_generates_a_month_once_and_the_command_can_force_it(scene: Scene) -> None:
    from node.reports.cli import generate_all

    first = generate_all(SEPTEMBER, scene.tenant.slug, only_missing=True)
    assert [(slug, done.generated) for slug, done in first] == [(scene.tenant.slug, 2)]
    assert generate_all(SEPTEMBER, scene.tenant.slug, only_missing=True) == []
    kept = generate_all(SEPTEMBER, scene.tenant.slug)
    assert [(d.generated, d.skipped) for _slug, d in kept] == [(0, 2)]
    forced = generate_all(SEPTEMBER, scene.tenant.slug, force=True)
    assert [(d.generated, d.replaced) for _slug, d in forced] == [(2, 2)]
    subtree = generate_all(SEPTEMBER, scene.tenant.slug, org_code=scene.b2.code, force=True)
    assert [(d.generated, d.replaced) for _slug, d in subtree] == [(1, 1)]


def test_the_command_is_registered() -> None:
    from click.testing import CliRunner

    from node.cli import cli

    result = CliRunner().invoke(cli, ["reports", "generate", "--help"])
    assert result.exit_code == 0 and "--month" in result.output and "--force" in result.output
