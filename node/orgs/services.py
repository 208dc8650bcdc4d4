"""The organization tree: unified codes, tiered maintenance, moves and size-rule warnings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypedDict

import sqlalchemy as sa

from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import require_role, within
from node.db import db
from node.dues.models import (
    DuesAheadConsent,
    DuesAssessment,
    DuesConsent,
    DuesLine,
    DuesMonth,
    DuesPayment,
    DuesReduction,
    DuesReminder,
)
from node.grants.models import Grant, Role
from node.meetings.models import Meeting
from node.members.models import Member, Stage, Status
from node.orgs.models import Officer, OfficerPosition, Org, OrgKind, OrgMove
from node.tenants.models import Tenant
from shared.codes import CodeError, child_code, subtree_upper_bound
from shared.errors import Conflict, InvalidInput, NotFound
from shared.rules import RuleWarning

#: Which kinds may sit under which (a group only inside a branch, and so on).
ALLOWED_CHILDREN: dict[OrgKind, frozenset[OrgKind]] = {
    OrgKind.committee: frozenset({OrgKind.committee, OrgKind.general_branch, OrgKind.branch,
                                  OrgKind.joint_branch}),
    OrgKind.general_branch: frozenset({OrgKind.branch, OrgKind.joint_branch}),
    OrgKind.branch: frozenset({OrgKind.group}),
    OrgKind.joint_branch: frozenset({OrgKind.group}),
    OrgKind.group: frozenset(),
}


#: Creating, editing, moving and dissolving organizations (分级维护: the organization
#: department's tier) needs this role over the organization.
STRUCTURE_ROLE = Role.tenant_admin


def may_change_structure(principal: Principal, org: Org) -> bool:
    """Whether `principal` may create under, edit, move or dissolve `org` (pages ask this to
    offer the forms; the services below enforce it)."""
    return principal.can(STRUCTURE_ROLE, org.code)


class OrgCreate(TypedDict, total=False):
    parent_id: int
    kind: OrgKind
    name: str
    short_name: str | None
    external_code: str | None
    description: str | None
    public_description: str | None
    is_village_or_community: bool
    founded_on: dt.date | None


def get_org(org_id: int) -> Org:
    org = db.session.get(Org, org_id)
    if org is None:
        raise NotFound("No such organization.")
    return org


def list_orgs(*, parent_id: int | None = None, kind: OrgKind | None = None, q: str | None = None,
              within_code: str | None = None, include_dissolved: bool = False,
              after_code: str | None = None, limit: int = 50) -> Sequence[Org]:
    """Orgs in code order (a depth-first walk of the tree). The tree is public in a tenant."""
    stmt = sa.select(Org).order_by(Org.code).limit(limit)
    if parent_id is not None:
        stmt = stmt.where(Org.parent_id == parent_id)
    if kind is not None:
        stmt = stmt.where(Org.kind == kind)
    if q:
        stmt = stmt.where(sa.or_(Org.name.contains(q, autoescape=True), Org.code == q,
                                 Org.external_code == q))
    if within_code:
        stmt = stmt.where(within(Org.code, [within_code]))
    if not include_dissolved:
        stmt = stmt.where(Org.dissolved_on.is_(None))
    if after_code:
        stmt = stmt.where(Org.code > after_code)
    return db.session.scalars(stmt).all()


def _check_kind(parent: Org, kind: OrgKind) -> None:
    if kind not in ALLOWED_CHILDREN[parent.kind]:
        raise InvalidInput(f"A {kind.value} cannot be placed under a {parent.kind.value}.",
                           errors={"kind": [f"Not allowed under a {parent.kind.value}."]})


def _check_external_code(external_code: str | None, *, exclude_id: int | None = None) -> None:
    if not external_code:
        return
    stmt = sa.select(Org.id).where(Org.external_code == external_code)
    if exclude_id is not None:
        stmt = stmt.where(Org.id != exclude_id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("Another organization has this external code.",
                       errors={"external_code": ["Already used."]})


def _allocate_code(parent: Org) -> str:
    """Take the parent's next child sequence; sequences never go back, so codes never repeat."""
    db.session.refresh(parent, with_for_update=True)
    parent.next_child_seq += 1
    try:
        return child_code(parent.code, parent.next_child_seq)
    except CodeError as exc:
        raise Conflict(str(exc)) from None


def _org_field(org_id: int, field: str) -> Org:
    """An org named in a request body: unknown is a field error, not a missing resource."""
    org = db.session.get(Org, org_id)
    if org is None:
        raise InvalidInput("No such organization.", errors={field: ["Unknown organization."]})
    return org


def create_org(principal: Principal, data: OrgCreate) -> Org:
    parent = _org_field(data["parent_id"], "parent_id")
    require_role(principal, STRUCTURE_ROLE, parent.code)
    if parent.is_dissolved:
        raise Conflict("The parent organization is dissolved.")
    _check_kind(parent, data["kind"])
    _check_external_code(data.get("external_code"))
    org = Org(parent_id=parent.id, code=_allocate_code(parent), depth=parent.depth + 1,
              **{k: v for k, v in data.items() if k != "parent_id"})
    db.session.add(org)
    db.session.flush()
    return org


def update_org(principal: Principal, org: Org, data: dict[str, Any]) -> Org:
    require_role(principal, STRUCTURE_ROLE, org.code)
    if "kind" in data and data["kind"] != org.kind:
        if org.parent_id is not None:
            _check_kind(get_org(org.parent_id), data["kind"])
        children = db.session.scalars(sa.select(Org.kind).where(Org.parent_id == org.id)).all()
        if any(child not in ALLOWED_CHILDREN[data["kind"]] for child in children):
            raise InvalidInput("The organization's children do not fit the new kind.",
                               errors={"kind": ["Incompatible with the children."]})
    if "external_code" in data:
        _check_external_code(data["external_code"], exclude_id=org.id)
    for key, value in data.items():
        setattr(org, key, value)
    db.session.flush()
    return org


#: Dues records keep their branch's code too (lines, closed months, payments, ...).
DUES_CODED = tuple((model, model.org_code) for model in (
    DuesLine, DuesMonth, DuesPayment, DuesAssessment, DuesReduction, DuesConsent, DuesReminder,
    DuesAheadConsent))


def _recode_subtree(old: str, new: str) -> None:
    """Rewrite every code under `old` to sit under `new`, in every table that keeps one."""
    cut = len(old) + 1
    for model, column in ((Org, Org.code), (Member, Member.org_code),
                          (Grant, Grant.org_code), (Officer, Officer.org_code),
                          (Meeting, Meeting.org_code), *DUES_CODED):
        db.session.execute(
            sa.update(model)
            .where(column >= old, column < subtree_upper_bound(old))
            .values({column.key: sa.literal(new) + sa.func.substr(column, cut)})
            .execution_options(synchronize_session=False)
        )


def move_org(principal: Principal, org: Org, *, new_parent_id: int,
             reason: str | None = None) -> Org:
    """Move a subtree under a new parent: recode it and record the move."""
    require_role(principal, STRUCTURE_ROLE, org.code)
    if org.parent_id is None:
        raise Conflict("The tenant's root organization cannot be moved.")
    new_parent = _org_field(new_parent_id, "new_parent_id")
    if not principal.can(STRUCTURE_ROLE, new_parent.code):
        raise InvalidInput("The new parent is outside your scope.",
                           errors={"new_parent_id": ["Outside your scope."]})
    if new_parent.code.startswith(org.code):
        raise InvalidInput("An organization cannot move under itself.",
                           errors={"new_parent_id": ["Inside the organization being moved."]})
    if new_parent.id == org.parent_id:
        raise InvalidInput("The organization is already there.",
                           errors={"new_parent_id": ["Same parent."]})
    if new_parent.is_dissolved:
        raise Conflict("The new parent organization is dissolved.")
    _check_kind(new_parent, org.kind)
    old_code, old_parent_id, depth_delta = org.code, org.parent_id, new_parent.depth + 1 - org.depth
    new_code = _allocate_code(new_parent)
    size = db.session.scalar(sa.select(sa.func.count()).select_from(Org)
                             .where(within(Org.code, [old_code])))
    org.parent_id, org.code = new_parent.id, new_code
    db.session.flush()  # audits the root's own change (parent and code)
    _recode_subtree(old_code, new_code)
    if depth_delta:
        db.session.execute(sa.update(Org).where(within(Org.code, [new_code]))
                           .values(depth=Org.depth + depth_delta)
                           .execution_options(synchronize_session=False))
    db.session.add(OrgMove(org_id=org.id, from_parent_id=old_parent_id,
                           to_parent_id=new_parent.id, old_code=old_code, new_code=new_code,
                           subtree_size=size or 1, reason=reason,
                           actor_account_id=principal.account_id))
    record(db.session(), action="org.move", entity_type="org", entity_id=org.id,
           scope_code=new_code, before={"code": old_code, "parent_id": old_parent_id},
           after={"code": new_code, "parent_id": new_parent.id, "subtree_size": size})
    db.session.flush()
    db.session.expire_all()
    return get_org(org.id)


def dissolve_org(principal: Principal, org: Org, *, dissolved_on: dt.date) -> Org:
    require_role(principal, STRUCTURE_ROLE, org.code)
    if org.parent_id is None:
        raise Conflict("The tenant's root organization cannot be dissolved.")
    if org.is_dissolved:
        raise Conflict("The organization is already dissolved.")
    open_children = db.session.scalar(sa.select(sa.func.count()).select_from(Org).where(
        Org.parent_id == org.id, Org.dissolved_on.is_(None)))
    members = db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(
        Member.org_id == org.id, Member.status.in_(ACTIVE_STATUSES)))
    if open_children or members:
        raise Conflict("Move its members and sub-organizations first.",
                       open_children=open_children, members=members)
    org.dissolved_on = dissolved_on
    db.session.flush()
    return org


ACTIVE_STATUSES = (Status.active, Status.floating, Status.lost_contact, Status.kept)


def list_officers(org: Org, *, current_only: bool = False) -> Sequence[Officer]:
    stmt = sa.select(Officer).where(Officer.org_id == org.id)
    if current_only:
        stmt = stmt.where(sa.or_(Officer.term_end.is_(None), Officer.term_end >= dt.date.today()))
    return db.session.scalars(stmt.order_by(Officer.term_start.desc(), Officer.id)).all()


def add_officer(principal: Principal, org: Org, data: dict[str, Any]) -> Officer:
    require_role(principal, Role.org_admin, org.code)
    member_id = data.get("member_id")
    if member_id is not None:
        member = db.session.get(Member, member_id)
        if member is None or not principal.can(Role.org_viewer, member.org_code):
            raise InvalidInput("No such member.", errors={"member_id": ["Unknown member."]})
        data.setdefault("name", member.name)
    if not data.get("name"):
        raise InvalidInput("Give the officer's name or member.", errors={"name": ["Required."]})
    if data.get("term_end") and data["term_end"] < data["term_start"]:
        raise InvalidInput("The term ends before it starts.", errors={"term_end": ["Too early."]})
    officer = Officer(org_id=org.id, org_code=org.code, **data)
    db.session.add(officer)
    db.session.flush()
    return officer


def end_officer_term(principal: Principal, org: Org, officer_id: int,
                     term_end: dt.date) -> Officer:
    require_role(principal, Role.org_admin, org.code)
    officer = db.session.get(Officer, officer_id)
    if officer is None or officer.org_id != org.id:
        raise NotFound("No such officer.")
    if term_end < officer.term_start:
        raise InvalidInput("The term ends before it starts.", errors={"term_end": ["Too early."]})
    officer.term_end = term_end
    db.session.flush()
    return officer



def org_warnings(org: Org, tenant: Tenant, *, today: dt.date | None = None) -> list[RuleWarning]:
    """Size, committee and term rules: reported, never enforced (real data is messy)."""
    today = today or dt.date.today()
    if org.is_dissolved:
        return []
    counts = db.session.execute(
        sa.select(Member.stage, sa.func.count()).where(
            within(Member.org_code, [org.code]), Member.status.in_(ACTIVE_STATUSES),
            Member.stage.in_((Stage.probationary, Stage.full)))
        .group_by(Member.stage)).all()
    by_stage = {Stage(stage): n for stage, n in counts}
    full, total = by_stage.get(Stage.full, 0), sum(by_stage.values())
    warnings: list[RuleWarning] = []
    if org.kind in (OrgKind.branch, OrgKind.joint_branch):
        if full < tenant.rule("branch_min_full_members"):
            needed = tenant.rule("branch_min_full_members")
            warnings.append(RuleWarning("branch-too-small",
                                    f"A branch needs at least {needed} full members; "
                                    f"this one has {full}.", {"needed": needed, "full": full}))
        if total > (most := tenant.rule("branch_max_members")):
            warnings.append(RuleWarning("branch-too-large",
                                    f"A branch normally has at most {most} members; "
                                    f"it has {total}.", {"most": most, "total": total}))
        if full >= tenant.rule("branch_committee_threshold"):
            committee = [o for o in list_officers(org, current_only=True)
                         if o.position != OfficerPosition.group_leader]
            low, high = tenant.rule("branch_committee_min"), tenant.rule("branch_committee_max")
            if not low <= len(committee) <= high:
                warnings.append(RuleWarning("branch-committee-size",
                                        f"A branch with {full} full members should have a "
                                        f"committee of {low}–{high}; it has {len(committee)}.",
                                        {"full": full, "low": low, "high": high,
                                         "size": len(committee)}))
    elif org.kind == OrgKind.general_branch and total > tenant.rule("general_branch_max_members"):
        most = tenant.rule("general_branch_max_members")
        warnings.append(RuleWarning("general-branch-too-large",
                                f"A general branch normally has at most {most} members.",
                                {"most": most, "total": total}))
    term_years = tenant.rule("term_years_village" if org.is_village_or_community
                             else "term_years_other")
    for officer in list_officers(org, current_only=True):
        expected_end = officer.term_start.replace(year=officer.term_start.year + term_years) \
            if not (officer.term_start.month == 2 and officer.term_start.day == 29) \
            else officer.term_start.replace(year=officer.term_start.year + term_years, day=28)
        if officer.term_end is None and expected_end < today:
            warnings.append(RuleWarning("term-overdue",
                                    f"{officer.name}'s {term_years}-year term ended on "
                                    f"{expected_end.isoformat()}; hold an election.",
                                    {"name": officer.name, "years": term_years,
                                     "ended": expected_end}))
    return warnings
