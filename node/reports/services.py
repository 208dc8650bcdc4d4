"""The member's monthly affairs report (党员月度组织生活报告): generated once a month has ended,
for a whole tenant or a subtree, and stored.

- **Who gets one**: party members (probationary and full) on the rolls of the scope
  (every status but transferred out and left).
- **What it says**: the held meetings of the month the member was invited to (attended,
  excused, missed, each absence with its reason), the month's dues line and the arrears up to
  that month, the directives for everyone received in the month and those the member read and
  completed in it. The figures come from the meetings, dues and directives services (their
  `*_by_member` functions): one aggregate query each, so a tenant of 10,000 members costs the
  same dozen statements as one member.
- **A snapshot**: a stored month is not recomputed when meetings, dues or reads change later;
  generating it again skips members who have one, and only `force` replaces them.
- **Who reads it**: the member (`/api/me/reports`, the activity card), and org viewers or
  administrators of the member's branch (a member out of reach is 404).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.directives import services as directives
from node.dues import services as dues
from node.dues.models import LineStatus
from node.grants.models import Role
from node.meetings import services as meetings
from node.members.models import Member, Stage, Status
from node.members.services import get_member, own_member
from node.orgs.models import Org
from node.reports.models import MemberReport
from node.tenants.models import Tenant
from shared.db import utcnow
from shared.errors import InvalidInput, NotFound

#: Who gets a report: party members still on the rolls.
REPORTED_STAGES = (Stage.probationary, Stage.full)
GONE = (Status.transferred_out, Status.left)
ZERO = Decimal("0.00")


def local_today() -> dt.date:
    return dues.local_today()


def parse_month(text: str) -> dt.date:
    """`YYYY-MM` as its first day; anything else is a field error (422)."""
    month = dues.parse_month(text)
    if not 2000 <= month.year <= 2100:
        raise InvalidInput(f"{text!r} is not a month such as 2026-03.",
                           errors={"month": ["Use a month such as 2026-03."]})
    return month


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first and the next month's first instant, local (China) time."""
    return dues.month_start_utc(month), dues.month_start_utc(dues.add_months(month, 1))


def last_ended_month(today: dt.date | None = None) -> dt.date:
    return dues.add_months(dues.month_of(today or local_today()), -1)


# --- generating -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Generated:
    month: dt.date
    generated: int
    #: Members who already had the month (kept as they were: pass `force` to replace).
    skipped: int
    replaced: int


def _reported_members(prefix: str) -> sa.Select[Any]:
    return (sa.select(Member.id)
            .where(within(Member.org_code, [prefix]), Member.stage.in_(REPORTED_STAGES),
                   Member.status.not_in(GONE)))


def generate(tenant: Tenant, month: dt.date, *, org: Org | None = None, force: bool = False,
             today: dt.date | None = None) -> Generated:
    """Store the month's report of every member of the tenant (or of `org`'s subtree).

    Idempotent: members who already have the month keep it unless `force`, which replaces
    them (the only way to rewrite a month). A fixed number of statements whatever the size.
    """
    if month >= dues.month_of(today or local_today()):
        raise InvalidInput("A month is reported once it has ended.",
                           errors={"month": ["The month has not ended yet."]})
    prefix = org.code if org is not None else tenant.code_prefix
    members = _reported_members(prefix)
    existing = set(db.session.scalars(sa.select(MemberReport.member_id).where(
        MemberReport.month == month, MemberReport.member_id.in_(members))))
    replaced = 0
    if existing and force:
        replaced = db.session.execute(
            sa.delete(MemberReport).where(MemberReport.month == month,
                                          MemberReport.member_id.in_(members))
            .execution_options(synchronize_session=False)).rowcount or 0
        existing = set()
    people = [row for row in db.session.execute(
        sa.select(Member.id, Member.org_id, Member.org_code, Org.name)
        .join(Org, Org.id == Member.org_id)
        .where(Member.id.in_(members)).order_by(Member.id)) if row[0] not in existing]
    if not people:
        return Generated(month, 0, len(existing), replaced)
    start, end = month_bounds(month)
    attendance = meetings.attendance_by_member(members, start, end)
    absences = meetings.absences_by_member(members, start, end)
    lines = dues.month_lines(members, month)
    arrears = dues.arrears_of(None, dues.add_months(month, 1), scope=prefix)
    received = directives.received_for_all(start, end)
    reads = directives.reads_by_member(members, start, end)
    now = utcnow()
    rows = []
    for member_id, org_id, org_code, org_name in people:
        tally = attendance.get(member_id, meetings.Tally())
        line = lines.get(member_id)
        owed = arrears.get(member_id)
        read, completed = reads.get(member_id, (0, 0))
        rows.append({
            "tenant_id": tenant.id, "member_id": member_id, "month": month, "org_id": org_id,
            "org_code": org_code, "org_name": org_name,
            "meetings_invited": tally.invited, "meetings_attended": tally.present,
            "meetings_excused": tally.excused, "meetings_missed": tally.absent,
            "absences": [_absence(a) for a in absences.get(member_id, [])],
            "dues_due": line.amount_due if line else None,
            "dues_paid": (line.amount_due if line.status == LineStatus.paid else ZERO)
            if line else None,
            "dues_status": line.status.value if line else None,
            "arrears_months": owed.months if owed else 0,
            "arrears_total": owed.owed if owed else ZERO,
            "directives_received": received, "directives_read": read,
            "directives_completed": completed, "generated_at": now})
    db.session.execute(sa.insert(MemberReport), rows)
    record(db.session(), action="reports.generate", entity_type="org",
           entity_id=org.id if org is not None else None, scope_code=prefix,
           before=None, after={"month": month.isoformat()[:7], "generated": len(rows),
                               "skipped": len(existing), "replaced": replaced})
    db.session.flush()
    return Generated(month, len(rows), len(existing), replaced)


def _absence(absence: meetings.Absence) -> dict[str, Any]:
    return {"title": absence.title, "kind": absence.kind.value,
            "starts_at": absence.starts_at.astimezone(dt.UTC).isoformat(),
            "status": absence.status.value, "reason": absence.reason}


def org_by_code(code: str) -> Org:
    """The organization of the current tenant with this code (404 otherwise)."""
    org = db.session.scalar(sa.select(Org).where(Org.code == code))
    if org is None:
        raise NotFound(f"No organization {code!r}.")
    return org


def already_generated(month: dt.date) -> bool:
    """Whether the current tenant has any report for the month (the scheduled job's test)."""
    return db.session.scalar(sa.select(MemberReport.id).where(MemberReport.month == month)
                             .limit(1)) is not None


# --- reading ----------------------------------------------------------------------------------


def reports_of(member_id: int, limit: int = 120) -> Sequence[MemberReport]:
    """A member's reports, newest month first."""
    return db.session.scalars(sa.select(MemberReport).where(MemberReport.member_id == member_id)
                              .order_by(MemberReport.month.desc()).limit(limit)).all()


def report_of(member_id: int, month: dt.date) -> MemberReport:
    report = db.session.scalar(sa.select(MemberReport).where(
        MemberReport.member_id == member_id, MemberReport.month == month))
    if report is None:
        raise NotFound("There is no report for this month.")
    return report


def own_reports(principal: Principal) -> Sequence[MemberReport]:
    return reports_of(own_member(principal).id)


def own_report(principal: Principal, month_text: str) -> MemberReport:
    month = parse_month(month_text)
    return report_of(own_member(principal).id, month)


def member_reports(principal: Principal, member_id: int) -> Sequence[MemberReport]:
    """A member's reports, for org viewers and administrators of the member's branch (a
    member out of reach is 404, as if absent)."""
    return reports_of(get_member(principal, member_id, Role.org_viewer).id)


def member_report(principal: Principal, member_id: int, month_text: str) -> MemberReport:
    member = get_member(principal, member_id, Role.org_viewer)
    return report_of(member.id, parse_month(month_text))


@dataclasses.dataclass(frozen=True)
class CardReports:
    latest: MemberReport | None
    months: list[dt.date]


def card_reports(member_id: int) -> CardReports:
    """The activity card's part: the latest report and the months there are."""
    reports = list(reports_of(member_id))
    return CardReports(reports[0] if reports else None, [r.month for r in reports])


def member_of(report: MemberReport) -> Member:
    """The report's member (already in the session after the reach check)."""
    member = db.session.get(Member, report.member_id)
    assert member is not None
    return member
