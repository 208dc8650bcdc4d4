"""Members: registration, the pipeline and status with dated history, search and the card."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import require_reach, within
from node.db import db
from node.grants.models import Role
from node.identity import services as identity_index
from node.members.identity import identity
from node.members.models import (
    SELF_DECLARED_FIELDS,
    STAGE_ORDER,
    ActivityEntry,
    Gender,
    Member,
    OrgChange,
    Stage,
    StageChange,
    Status,
    StatusChange,
)
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant
from shared import identity as nid
from shared.errors import Conflict, InvalidInput, NotFound
from shared.rules import RuleWarning

MEMBER_SEQ_WIDTH = 8
#: Statuses set by other workflows (transfers), not by a direct status change.
WORKFLOW_STATUSES = frozenset({Status.transferred_out})
_NATIONAL_ID_RE = re.compile(r"^\d{15}$|^\d{17}[\dXx]$")


def allocate_member_numbers(tenant: Tenant, count: int) -> list[str]:
    """Network-unique numbers: the tenant's (prefix-free) code prefix and a sequence."""
    # FOR NO KEY UPDATE: serializes the allocations without blocking the foreign-key checks
    # of inserts into the tenant (FOR UPDATE did, and deadlocked with them on PostgreSQL).
    db.session.refresh(tenant, with_for_update={"key_share": True})
    start = tenant.next_member_seq + 1
    tenant.next_member_seq += count
    return [f"{tenant.code_prefix}{seq:0{MEMBER_SEQ_WIDTH}d}"
            for seq in range(start, start + count)]


def require_on_rolls(member: Member) -> None:
    """A member transferred out is kept read-only: the record belongs to the history."""
    if member.status == Status.transferred_out:
        raise Conflict("This member was transferred out; the record is read-only.",
                       errors={"status": ["Transferred out."]})


def check_member_org(org: Org) -> None:
    if org.is_dissolved:
        raise InvalidInput("The organization is dissolved.", errors={"org_id": ["Dissolved."]})
    if org.kind == OrgKind.group:
        raise InvalidInput("Members belong to a branch, not to a party group.",
                           errors={"org_id": ["A party group cannot hold members."]})


def _org_in_reach(principal: Principal, org_id: int, role: Role, field: str = "org_id") -> Org:
    org = db.session.get(Org, org_id)
    if org is None or not principal.can(role, org.code):
        raise InvalidInput("No such organization in your scope.",
                           errors={field: ["Unknown organization."]})
    return org


def parse_national_id(raw: str, field: str = "national_id") -> str:
    try:
        return nid.normalize_national_id(raw)
    except nid.InvalidNationalId as exc:
        raise InvalidInput("The national ID number is not valid.",
                           errors={field: [str(exc)]}) from None


def create_member(principal: Principal, tenant: Tenant, data: dict[str, Any]) -> Member:
    org = _org_in_reach(principal, data.pop("org_id"), Role.org_admin)
    check_member_org(org)
    national_id = parse_national_id(data.pop("national_id"))
    digest = identity().hasher.hash(national_id)
    if db.session.scalar(sa.select(Member.id).where(Member.national_id_hash == digest)):
        raise Conflict("A member with this national ID is already registered.",
                       errors={"national_id": ["Already registered."]})
    stage = data.pop("stage")
    effective_on = data.pop("stage_since", None) or dt.date.today()
    member = Member(
        member_number=allocate_member_numbers(tenant, 1)[0], org_id=org.id, org_code=org.code,
        gender=Gender(nid.gender(national_id)), birth_date=nid.birth_date(national_id),
        national_id_cipher=identity().cipher.encrypt(national_id), national_id_hash=digest,
        national_id_masked=nid.mask_national_id(national_id), stage=stage,
        status=Status.active, **data)
    db.session.add(member)
    db.session.flush()
    db.session.add_all([
        StageChange(member_id=member.id, from_stage=None, to_stage=stage,
                    effective_on=effective_on, note="registered"),
        StatusChange(member_id=member.id, from_status=None, to_status=Status.active,
                     effective_on=effective_on, reason="registered"),
        OrgChange(member_id=member.id, from_org_id=None, to_org_id=org.id,
                  effective_on=effective_on, reason="registered"),
    ])
    db.session.flush()
    identity_index.member_indexed(member)  # the hub's duplicate detection, same transaction
    return member


def get_member(principal: Principal, member_id: int, role: Role = Role.org_viewer) -> Member:
    """A member within reach for `role`; anything else is 404."""
    member = db.session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    require_reach(principal, role, member.org_code)
    return member


def own_member(principal: Principal) -> Member:
    if principal.member_id is None:
        raise NotFound("This account is not linked to a member record.")
    member = db.session.get(Member, principal.member_id)
    if member is None:
        raise NotFound("This account is not linked to a member record.")
    return member


@dataclasses.dataclass(frozen=True)
class MemberFilter:
    org_id: int | None = None
    subtree: bool = True
    stage: Stage | None = None
    status: Status | None = None
    q: str | None = None
    #: Only members the hub reports as also on the rolls of another tenant.
    flagged: bool = False


#: What a list row shows (MemberSummarySchema): no contact details, nothing encrypted.
LIST_COLUMNS = (Member.id, Member.member_number, Member.org_id, Member.org_code, Member.name,
                Member.gender, Member.birth_date, Member.national_id_masked, Member.stage,
                Member.status, Member.admitted_on)


def member_query(principal: Principal, flt: MemberFilter, *columns: Any,
                 role: Role = Role.org_viewer) -> sa.Select[Any]:
    """Members the principal may read (or hold `role` over), filtered; the subtree test is an
    index range on org_code."""
    stmt = (sa.select(*columns) if columns else sa.select(Member)).where(
        within(Member.org_code, principal.prefixes(role)))
    if flt.org_id is not None:
        code = principal.granted_orgs.get(flt.org_id) or db.session.execute(
            sa.select(Org.code).where(Org.id == flt.org_id)).scalar()
        if code is None or not principal.can(Role.org_viewer, code):
            raise NotFound("No such organization.")
        stmt = stmt.where(within(Member.org_code, [code]) if flt.subtree
                          else Member.org_id == flt.org_id)
    if flt.stage is not None:
        stmt = stmt.where(Member.stage == flt.stage)
    if flt.status is not None:
        stmt = stmt.where(Member.status == flt.status)
    if flt.flagged:
        stmt = stmt.where(identity_index.flagged_condition())
    if flt.q:
        q = flt.q.strip()
        if _NATIONAL_ID_RE.match(q):
            try:
                stmt = stmt.where(Member.national_id_hash == identity().hasher.hash(q))
            except nid.InvalidNationalId:
                stmt = stmt.where(sa.false())
        elif q.isdigit():
            stmt = stmt.where(Member.member_number.startswith(q, autoescape=True))
        else:
            stmt = stmt.where(Member.name.contains(q, autoescape=True))
    return stmt


def list_members(principal: Principal, flt: MemberFilter, *, after: tuple[str, int] | None,
                 limit: int) -> Sequence[sa.RowMapping]:
    """A page in tree order (org code, then registration): one index range scan per page,
    however deep. Rows, not ORM objects: a list needs no identity map."""
    stmt = member_query(principal, flt, *LIST_COLUMNS).order_by(Member.org_code, Member.id)
    if after is not None:
        stmt = stmt.where(sa.tuple_(Member.org_code, Member.id) > sa.tuple_(*after))
    return db.session.execute(stmt.limit(limit)).mappings().all()


ADMIN_FIELDS = frozenset({"name", "ethnicity", "education", "applied_on", "admitted_on",
                          "full_on"}) | frozenset(SELF_DECLARED_FIELDS)


def update_member(principal: Principal, member: Member, data: dict[str, Any]) -> Member:
    require_reach(principal, Role.org_admin, member.org_code)
    require_on_rolls(member)
    unknown = set(data) - ADMIN_FIELDS
    if unknown:
        raise InvalidInput("These fields cannot be changed here.",
                           errors={k: ["Not editable."] for k in sorted(unknown)})
    for key, value in data.items():
        setattr(member, key, value)
    db.session.flush()
    return member


def update_self_declared(member: Member, data: dict[str, Any]) -> Member:
    """The member tier of maintenance: only self-declared fields."""
    require_on_rolls(member)
    unknown = set(data) - set(SELF_DECLARED_FIELDS)
    if unknown:
        raise InvalidInput("Only your contact details can be changed here.",
                           errors={k: ["Maintained by your branch."] for k in sorted(unknown)})
    for key, value in data.items():
        setattr(member, key, value)
    db.session.flush()
    return member


def _months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


HistoryModel = type[StageChange] | type[StatusChange] | type[OrgChange]


def _last_date(model: HistoryModel, member: Member) -> dt.date | None:
    return db.session.scalar(
        sa.select(sa.func.max(model.effective_on)).where(model.member_id == member.id))


def _check_history_date(model: HistoryModel, member: Member, effective_on: dt.date) -> None:
    """History stays in order: no change dated before the previous one, or in the future."""
    if effective_on > dt.date.today():
        raise InvalidInput("The date is in the future.", errors={"effective_on": ["Future."]})
    last = _last_date(model, member)
    if last and effective_on < last:
        raise InvalidInput(f"The previous change is dated {last.isoformat()}.",
                           errors={"effective_on": ["Before the previous change."]})


def stage_warnings(member: Member, to_stage: Stage, effective_on: dt.date,
                   last: dt.date | None) -> list[RuleWarning]:
    """Pipeline time rules (DOMAIN.md): reported, not enforced."""
    warnings = []
    needed = {Stage.activist: 6, Stage.candidate: 12, Stage.full: 12}.get(to_stage)
    if needed and last and (months := _months_between(last, effective_on)) < needed:
        warnings.append(RuleWarning(
            "stage-too-soon", f"Normally at least {needed} months in the {member.stage.value} "
            f"stage; it has been {months}.",
            {"needed": needed, "stage": member.stage, "months": months}))
    if to_stage == Stage.activist and _months_between(member.birth_date, effective_on) < 18 * 12:
        warnings.append(RuleWarning("applicant-under-18",
                                    "Applicants must be at least 18 years old."))
    return warnings


def change_stage(principal: Principal, member: Member, *, to_stage: Stage,
                 effective_on: dt.date, note: str | None = None) -> list[RuleWarning]:
    """Advance one step in the pipeline; the history keeps the date of every step."""
    require_reach(principal, Role.org_admin, member.org_code)
    require_on_rolls(member)
    current = STAGE_ORDER.index(member.stage)
    if current + 1 == len(STAGE_ORDER):
        raise Conflict("A full member has no further stage.",
                       errors={"to_stage": ["Already a full member."]})
    if STAGE_ORDER.index(to_stage) != current + 1:
        raise Conflict(f"A {member.stage.value} can only become a "
                       f"{STAGE_ORDER[current + 1].value}.",
                       errors={"to_stage": ["Not the next stage."]})
    _check_history_date(StageChange, member, effective_on)
    warnings = stage_warnings(member, to_stage, effective_on, _last_date(StageChange, member))
    db.session.add(StageChange(member_id=member.id, from_stage=member.stage, to_stage=to_stage,
                               effective_on=effective_on, note=note))
    member.stage = to_stage
    if to_stage == Stage.probationary:
        member.admitted_on = effective_on
    elif to_stage == Stage.full:
        member.full_on = effective_on
    db.session.flush()
    return warnings


def change_status(principal: Principal, member: Member, *, to_status: Status,
                  effective_on: dt.date, reason: str | None = None) -> Member:
    require_reach(principal, Role.org_admin, member.org_code)
    if to_status in WORKFLOW_STATUSES or member.status in WORKFLOW_STATUSES:
        raise Conflict("Transfers change this status, not a direct edit.",
                       errors={"to_status": ["Set by the transfer workflow."]})
    if to_status == member.status:
        raise Conflict("The member already has this status.", errors={"to_status": ["Same."]})
    _check_history_date(StatusChange, member, effective_on)
    db.session.add(StatusChange(member_id=member.id, from_status=member.status,
                                to_status=to_status, effective_on=effective_on, reason=reason))
    was_active = identity_index.is_active(member.status)
    member.status = to_status
    db.session.flush()
    if identity_index.is_active(to_status) != was_active:
        identity_index.member_indexed(member)  # on or off the rolls: tell the hub
    return member


def move_member(principal: Principal, member: Member, *, to_org_id: int, effective_on: dt.date,
                reason: str | None = None) -> Member:
    """Move within the tenant: needs administration of both the old and the new org."""
    require_reach(principal, Role.org_admin, member.org_code)
    require_on_rolls(member)
    org = _org_in_reach(principal, to_org_id, Role.org_admin, "to_org_id")
    check_member_org(org)
    if org.id == member.org_id:
        raise Conflict("The member is already in this organization.")
    _check_history_date(OrgChange, member, effective_on)
    db.session.add(OrgChange(member_id=member.id, from_org_id=member.org_id, to_org_id=org.id,
                             effective_on=effective_on, reason=reason))
    member.org_id, member.org_code = org.id, org.code
    db.session.flush()
    return member


def reveal_national_id(principal: Principal, member: Member) -> str:
    """Decrypt for an administrator; every reveal is audited."""
    require_reach(principal, Role.org_admin, member.org_code)
    record(db.session(), action="member.reveal_national_id", entity_type="member",
           entity_id=member.id, scope_code=member.org_code, before=None, after=None)
    return identity().cipher.decrypt(member.national_id_cipher)


@dataclasses.dataclass(frozen=True)
class ActivityCard:
    member: Member
    org: Org
    stages: Sequence[StageChange]
    statuses: Sequence[StatusChange]
    orgs: Sequence[tuple[OrgChange, str | None, str]]
    activities: Sequence[ActivityEntry]


def activity_card(member: Member) -> ActivityCard:
    """The member's electronic activity card: record, stages, org history, activities."""
    stages = db.session.scalars(sa.select(StageChange).where(StageChange.member_id == member.id)
                                .order_by(StageChange.effective_on, StageChange.id)).all()
    statuses = db.session.scalars(sa.select(StatusChange)
                                  .where(StatusChange.member_id == member.id)
                                  .order_by(StatusChange.effective_on, StatusChange.id)).all()
    from_org, to_org = sa.orm.aliased(Org), sa.orm.aliased(Org)
    orgs = db.session.execute(
        sa.select(OrgChange, from_org.name, to_org.name)
        .join(to_org, to_org.id == OrgChange.to_org_id)
        .outerjoin(from_org, from_org.id == OrgChange.from_org_id)
        .where(OrgChange.member_id == member.id)
        .order_by(OrgChange.effective_on, OrgChange.id)).all()
    activities = db.session.scalars(sa.select(ActivityEntry)
                                    .where(ActivityEntry.member_id == member.id)
                                    .order_by(ActivityEntry.occurred_on.desc())
                                    .limit(200)).all()
    org = db.session.get(Org, member.org_id)
    assert org is not None
    return ActivityCard(member, org, stages, statuses, orgs, activities)


def count_by_stage(principal: Principal) -> dict[Stage, int]:
    """Members in the principal's reach by pipeline stage (every stage, zero included)."""
    rows = db.session.execute(
        member_query(principal, MemberFilter(), Member.stage, sa.func.count())
        .group_by(Member.stage)).all()
    counts = {Stage(stage): int(n) for stage, n in rows}
    return {stage: counts.get(stage, 0) for stage in STAGE_ORDER}


def party_age(member: Member, today: dt.date | None = None) -> int | None:
    """Whole years since admission (the branch assembly), or None before it."""
    admitted, today = member.admitted_on, today or dt.date.today()
    if admitted is None:
        return None
    return today.year - admitted.year - ((today.month, today.day)
                                         < (admitted.month, admitted.day))
