"""Statistics snapshots for the hub: per-organization counts, computed in two queries.

A snapshot of a tenant lists each live organization with the counts of its *own* members and
of its direct children by kind (contract: `federation.messages.stats`, docs/protocol.md). The
members are counted by one `GROUP BY org_id` with conditional counts (one scan of the tenant's
members, whatever their number); the org tree is one more query. Names, member numbers, ids and
national IDs never enter the message.

Each entry also carries `life` (`partynet.stats.snapshot.v2`): the organization's meetings
held, due and met and attendance of the year to date (`node.meetings.services.compliance`,
a fixed number of aggregate queries) and its dues members and amounts
(`node.dues.services.org_dues`, two GROUP BYs): counts and sums only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.keys import HUB, format_time, utcnow
from federation.messages.stats import (
    AGE_BANDS,
    BREAKDOWNS,
    MAX_ORGS_PER_CHUNK,
    ORG_KINDS,
    PARTY_AGE_BANDS,
    SNAPSHOT_V2,
    empty_life,
    empty_members,
)
from node.auth.principal import Principal
from node.db import db
from node.dues import services as dues
from node.grants.models import Role
from node.meetings import services as meetings
from node.members.models import Member, Stage, Status
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context

#: Statuses of people no longer on this organization's rolls.
GONE = (Status.transferred_out, Status.left)
PARTY_MEMBERS = (Stage.probationary, Stage.full)

#: Organizations per message: about 200 KB of JSON (the contract allows up to 500).
CHUNK_SIZE = 250

#: Upper bounds (in whole years, exclusive) of the age bands, in the contract's order; the last
#: band is open.
_AGE_LIMITS = (31, 41, 51, 61, 71)
_PARTY_AGE_LIMITS = (5, 10, 20, 30)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day `years` earlier (29 February -> 28 February in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _bands(column: Any, labels: Sequence[str], limits: Sequence[int],
           today: dt.date) -> list[tuple[str, sa.ColumnElement[bool]]]:
    """(label, condition) per band of whole years between `column` and `today`.

    Someone is at least N years old (or N years a member) on `today` exactly when the date is on
    or before `today` minus N years: bands become date ranges, which both databases compare
    natively and the query needs no date arithmetic. A date after `today` falls in the first
    band.
    """
    cutoffs = [years_before(today, n) for n in limits]
    conditions = []
    upper: dt.date | None = None  # dates after `upper` are in a younger band
    for label, cutoff in zip(labels, [*cutoffs, None], strict=True):
        parts = [column.is_not(None)]
        if cutoff is not None:
            parts.append(column > cutoff)
        if upper is not None:
            parts.append(column <= upper)
        conditions.append((label, sa.and_(*parts)))
        upper = cutoff
    return conditions


def _count_columns(today: dt.date) -> list[tuple[str, str, sa.ColumnElement[bool]]]:
    """(breakdown, key, condition on a member row) for every count of the contract."""
    on_rolls = Member.status.not_in(GONE)
    party = Member.stage.in_(PARTY_MEMBERS)
    current = sa.and_(party, on_rolls)
    columns: list[tuple[str, str, sa.ColumnElement[bool]]] = []
    for stage in BREAKDOWNS["by_stage"]:
        columns.append(("by_stage", stage, sa.and_(on_rolls, Member.stage == Stage(stage))))
    for status in BREAKDOWNS["by_status"]:
        columns.append(("by_status", status, sa.and_(party, Member.status == Status(status))))
    for gender in BREAKDOWNS["by_gender"]:
        columns.append(("by_gender", gender, sa.and_(current, Member.gender == gender)))
    for label, band in _bands(Member.birth_date, AGE_BANDS, _AGE_LIMITS, today):
        columns.append(("by_age_band", label, sa.and_(current, band)))
    for education in BREAKDOWNS["by_education"]:
        test = (Member.education.is_(None) if education == "unknown"
                else Member.education == education)
        columns.append(("by_education", education, sa.and_(current, test)))
    known = PARTY_AGE_BANDS[:-1]
    for label, band in _bands(Member.admitted_on, known, _PARTY_AGE_LIMITS, today):
        columns.append(("by_party_age_band", label, sa.and_(current, band)))
    columns.append(("by_party_age_band", "unknown",
                    sa.and_(current, Member.admitted_on.is_(None))))
    return columns


def member_counts(today: dt.date) -> dict[int, dict[str, dict[str, int]]]:
    """org id -> `members` object, for the organizations of the current tenant with members."""
    columns = _count_columns(today)
    query = (sa.select(Member.org_id,
                       *(sa.func.count(sa.case((cond, 1))).label(f"c{i}")
                         for i, (_b, _k, cond) in enumerate(columns)))
             .group_by(Member.org_id))
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for row in db.session.execute(query):
        members = empty_members()
        for (breakdown, key, _cond), value in zip(columns, row[1:], strict=True):
            members[breakdown][key] = int(value)
        counts[row[0]] = members
    return counts


def life_counts(tenant: Tenant, today: dt.date) -> dict[int, dict[str, dict[str, int]]]:
    """org id -> v2's `life`, for the calendar year up to `today`, from the meetings'
    compliance (a branch's party groups folded into it) and the dues of the ended months.
    A fixed number of aggregate queries, whatever the size of the tenant."""
    system = Principal(account_id=0, tenant_id=tenant.id, username="stats",
                       grants=((Role.tenant_admin, tenant.code_prefix),))
    noon = dt.datetime.combine(today, dt.time(12), meetings.LOCAL_TZ)
    found = meetings.compliance(system, tenant, period=meetings.Period(today.year, 1, 12),
                                now=noon)
    life: dict[int, dict[str, dict[str, int]]] = {}
    for unit in found.branches:
        entry = life.setdefault(unit.org_id, empty_life())
        for kind, count in unit.kinds.items():
            entry["meetings_held"][kind.value] = count.held
            entry["meetings_due"][kind.value] = count.due
            entry["meetings_met"][kind.value] = count.met
        entry["attendance"].update(invited=unit.attendance.invited,
                                   present=unit.attendance.present,
                                   excused=unit.attendance.excused)
    year_start = dt.date(today.year, 1, 1)
    for org_id, figures in dues.org_dues(year_start, dues.month_of(today)).items():
        entry = life.setdefault(org_id, empty_life())
        entry["dues"].update(assessed=figures.assessed, paid_up=figures.paid_up,
                             in_arrears=figures.in_arrears,
                             due_fen=int(figures.due_total * 100),
                             paid_fen=int(figures.paid_total * 100))
    return life


def org_entries(today: dt.date, tenant: Tenant | None = None) -> list[dict[str, Any]]:
    """Every live organization of the current tenant as a snapshot entry, ordered by code;
    with `tenant`, each with v2's `life` too.

    A dissolved organization (dissolved on or before `today`) is left out; so are its
    members, who should not be there.
    """
    live = sa.or_(Org.dissolved_on.is_(None), Org.dissolved_on > today)
    orgs = db.session.execute(
        sa.select(Org.id, Org.parent_id, Org.code, Org.kind, Org.name).where(live)
        .order_by(Org.code)).all()
    codes = {org.id: org.code for org in orgs}
    children: dict[int, dict[str, int]] = {}
    for org in orgs:
        if org.parent_id in codes:
            kinds = children.setdefault(org.parent_id, dict.fromkeys(ORG_KINDS, 0))
            kinds[str(org.kind)] += 1
    members = member_counts(today)
    entries = [{"code": org.code, "parent_code": codes.get(org.parent_id),
                "kind": str(org.kind), "name": org.name,
                "members": members.get(org.id) or empty_members(),
                "orgs_by_kind": children.get(org.id) or dict.fromkeys(ORG_KINDS, 0)}
               for org in orgs]
    if tenant is not None:
        life = life_counts(tenant, today)
        for org, entry in zip(orgs, entries, strict=True):
            entry["life"] = life.get(org.id) or empty_life()
    return entries


#: Scheduled snapshots are taken at this local time, then every NODE_STATS_INTERVAL seconds.
SCHEDULE_ANCHOR = dt.time(1, 0)


def next_snapshot_at(now: dt.datetime, interval: int) -> dt.datetime:
    """The first scheduled snapshot time after `now` (timezone-aware, local): 01:00 plus a
    whole number of intervals (a daily interval: every day at 01:00)."""
    anchor = now.replace(hour=SCHEDULE_ANCHOR.hour, minute=SCHEDULE_ANCHOR.minute, second=0,
                         microsecond=0)
    if anchor > now:
        anchor -= dt.timedelta(days=1)
    steps = int((now - anchor).total_seconds() // interval) + 1
    return anchor + dt.timedelta(seconds=steps * interval)


@dataclasses.dataclass(frozen=True)
class Published:
    tenant: str
    period: str
    orgs: int
    message_ids: list[str]


def publish_snapshot(tenant: Tenant, today: dt.date, *, now: dt.datetime | None = None,
                     chunk_size: int = CHUNK_SIZE) -> Published:
    """Queue the tenant's snapshot for `today` to the hub, in chunks, in the caller's
    transaction (all chunks or none). A later publication for the same day replaces it."""
    if not 1 <= chunk_size <= MAX_ORGS_PER_CHUNK:
        raise ValueError(f"chunk_size must be 1 to {MAX_ORGS_PER_CHUNK}")
    with tenant_context(tenant.id):
        entries = org_entries(today, tenant)
    chunks = [entries[i:i + chunk_size] for i in range(0, len(entries), chunk_size)]
    taken_at = format_time(now or utcnow())
    period = today.isoformat()
    session = db.session()
    ids = [send(session, SNAPSHOT_V2, destination=HUB, tenant=tenant.slug, sequenced=True,
                data={"taken_at": taken_at, "period": period, "chunk": n,
                      "chunks": len(chunks), "orgs": orgs})
           for n, orgs in enumerate(chunks, start=1)]
    return Published(tenant=tenant.slug, period=period, orgs=len(entries), message_ids=ids)
