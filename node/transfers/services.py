"""The transfer saga on one node: applying, approving, issuing, receiving, closing.

Public functions (PAGES and the API build on these; each flushes, the caller commits):

- `apply_transfer(principal, *, member_id, to_tenant, to_org_code, reason, auto_approve)`:
  the member (own record, `member_id` None) or a secretary on the member's behalf, in the
  member's tenant context; starts the sending chain.
- `approve(principal, transfer_id, *, note, branch_id)`: the next approval of either chain
  (the last of the sending chain issues the letter; the last of the receiving chain claims).
- `reject(principal, transfer_id, *, reason, reason_code)`: a reason is required. Sending
  chain: the application is declined (cancelled); receiving side: the letter goes back.
- `assign_branch(principal, transfer_id, *, org_id)`: the receiving committee picks the branch.
- `resend(principal, transfer_id, *, to_tenant, to_org_code, reason)`: correct a rejected
  transfer and send a new letter (attempt + 1).
- `reissue(principal, transfer_id)`: a new letter with a new validity after expiry.
- `void(principal, transfer_id, *, note)`: the letter was lost: a new serial, a new letter.
- `cancel(principal, transfer_id, *, reason)`: before reception (the member may cancel their
  own application, the issuing committee any time before the claim is accepted).
- `expire_due(now)`: both sides whose validity passed (CLI `partynet node transfers expire`).
- `apply_step(session, *, tenant_slug, uid, step, body, sender_node)`: the other side's step
  (the carrier calls it for local tenants, the bus handler for other nodes); idempotent.
- `list_transfers(principal, flt, ...)`, `get_transfer(principal, transfer_id)`,
  `transfer_view(principal, transfer)` (with approvals and events), `may(principal, transfer)`
  (the actions the principal may take now), `events(transfer)`, `approvals(transfer)`,
  `pending_approval(transfer)`, `letter_body(transfer, member)` (the `letter` step's body),
  `may_print(principal, transfer)` and `printable_letter(principal, transfer)` (the printable
  letter's data, on either side), `held_dossier(transfer)` (the in side's decrypted dossier),
  `destinations()`, `set_transfer_rules(principal, tenant, ...)` and `configure_rules(tenant,
  ...)` (validity, automatic approvals), `validity(origin, destination_region)`.

Clock: every function takes `now`; when omitted it is `clock()`, which tests may replace.

The invariant (docs/architecture.md, "Transfers"): the member is active at the origin until the
origin's side becomes `received` (the origin accepting the claim is the linearization point);
the destination activates the member only on `released`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.keys import format_time, parse_time
from node.auth.principal import Principal, maybe_principal
from node.auth.reach import within
from node.db import db
from node.floating import services as floating
from node.grants.models import Role
from node.identity import services as identity_index
from node.meetings.models import LOCAL_TZ
from node.members.identity import identity
from node.members.models import (
    ActivityEntry,
    Education,
    Gender,
    Member,
    OrgChange,
    Stage,
    StageChange,
    Status,
    StatusChange,
)
from node.members.services import allocate_member_numbers
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, current_tenant_id, tenant_context
from node.transfers import carrier
from node.transfers.models import (
    FINAL,
    Chain,
    Side,
    State,
    Transfer,
    TransferApproval,
    TransferEvent,
    TransferSerial,
)
from shared import identity as nid
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

P = ParamSpec("P")
R = TypeVar("R")

#: Replaced by tests to move the clock (every function reads the time through it).
clock: Callable[[], dt.datetime] = utcnow

#: Validity of a letter: within a city (same first 4 digits of the region code), across
#: cities, and the ceiling (3 months); a tenant rule may shorten it.
VALIDITY_SAME_CITY = dt.timedelta(days=30)
VALIDITY_OTHER = dt.timedelta(days=90)
VALIDITY_MAX = dt.timedelta(days=92)
#: An out side released this long ago whose receipt has not come back is overdue.
RECEIPT_OVERDUE = dt.timedelta(days=14)
#: Tenant rules (in `Tenant.rules`) and their defaults: 0 = the national default validity.
TRANSFER_RULES: dict[str, int] = {"transfer_validity_days": 0, "transfer_auto_approve": 0}
REJECT_CODES = ("refused", "unknown_org", "already_active", "other")
UNDELIVERABLE_CODES = ("unknown_tenant", "node_revoked", "already_active", "unreachable")
REFUSED_CODES = ("cancelled", "expired", "voided", "stale_attempt")
#: Member statuses that may apply for a transfer (on the rolls and reachable).
MAY_TRANSFER = frozenset({Status.active, Status.floating})
#: Stages that hold an organization relationship (applicants and activists are not members).
MEMBER_STAGES = frozenset({Stage.probationary, Stage.full})
#: Out-side states in which the origin still holds an open transfer for the member.
OUT_OPEN = frozenset({State.applied, State.approving, State.issued, State.rejected,
                      State.expired})
#: Open states per side for the "overdue" filter.
IN_OPEN = frozenset({State.delivered, State.approving, State.claimed})


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else clock()


def new_uid() -> str:
    """A uuid7 (time-ordered) string: the transfer's network-wide id."""
    ms = int(time.time() * 1000)
    raw = (ms << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) \
        | secrets.randbits(62)
    return str(uuid.UUID(int=raw))


# --- tenants, rules, places -------------------------------------------------------------------


def tenant_rule(tenant: Tenant, name: str) -> int:
    return int((tenant.rules or {}).get(name, TRANSFER_RULES[name]))


def set_transfer_rules(principal: Principal, tenant: Tenant, *,
                       validity_days: int | None = None,
                       auto_approve: bool | None = None) -> Tenant:
    """The tenant's transfer rules (tenant administrators): a shorter validity (1-92 days, 0
    for the national default) and automatic approvals of both chains."""
    if not principal.can(Role.tenant_admin, tenant.code_prefix):
        raise Forbidden("Only the tenant's administrators change its rules.")
    return configure_rules(tenant, validity_days=validity_days, auto_approve=auto_approve)


def configure_rules(tenant: Tenant, *, validity_days: int | None = None,
                    auto_approve: bool | None = None) -> Tenant:
    """`set_transfer_rules` for the operator (CLI, demo, benchmarks): no principal."""
    rules = dict(tenant.rules or {})
    if validity_days is not None:
        if not 0 <= validity_days <= VALIDITY_MAX.days:
            raise InvalidInput("The validity is out of range.", errors={
                "validity_days": [f"From 0 (the default) to {VALIDITY_MAX.days} days."]})
        rules["transfer_validity_days"] = validity_days
    if auto_approve is not None:
        rules["transfer_auto_approve"] = int(auto_approve)
    tenant.rules = rules
    db.session.flush()
    return tenant


def validity(origin: Tenant, destination_region: str) -> dt.timedelta:
    """30 days within a city, 90 across, at most 92; the origin's rule may shorten it."""
    base = VALIDITY_SAME_CITY if origin.region_code[:4] == destination_region[:4] \
        else VALIDITY_OTHER
    days = tenant_rule(origin, "transfer_validity_days")
    if days > 0:
        base = min(base, dt.timedelta(days=days))
    return min(base, VALIDITY_MAX)


def destinations() -> list[carrier.TenantPlace]:
    """Where a transfer may go: this node's tenants and those the hub's directory names."""
    return carrier.known_tenants(db.session())


def _tenant(tenant_id: int | None = None) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id if tenant_id is not None else current_tenant_id())
    if tenant is None:
        raise NotFound("No tenant here.")
    return tenant


# --- events -----------------------------------------------------------------------------------


#: The principal acting in the current service call (set by `_acting_as`); steps from the
#: other side run with none.
_acting: ContextVar[Principal | None] = ContextVar("partynet_transfer_actor", default=None)


def _acts(fn: Callable[P, R]) -> Callable[P, R]:
    """Public functions whose first argument is the acting principal: events name them."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _acting.set(args[0])  # type: ignore[arg-type]
        try:
            return fn(*args, **kwargs)
        finally:
            _acting.reset(token)
    return wrapper


def _actor(actor: str | None) -> tuple[str, int | None]:
    principal = _acting.get() or maybe_principal()
    if actor is not None:
        return actor, None
    if principal is not None:
        # Principals built outside a request (CLI, jobs) carry account id 0: no such row.
        return principal.username, principal.account_id or None
    from node.audit.recording import _actor_label

    return _actor_label.get() or "system", None


def _event(t: Transfer, action: str, *, now: dt.datetime, note: str | None = None,
           org_code: str | None = None, actor: str | None = None) -> None:
    label, account_id = _actor(actor)
    db.session.add(TransferEvent(transfer_id=t.id, tenant_id=t.tenant_id, at=now,
                                 attempt=t.attempt, action=action, actor=label[:80],
                                 actor_account_id=account_id, org_code=org_code,
                                 state=t.state, note=(note or None) and note[:500]))


# --- the org chains ---------------------------------------------------------------------------


def _ancestry(org: Org) -> Iterator[Org]:
    """`org` and its ancestors, nearest first, each loaded only when it is asked for."""
    node: Org | None = org
    while node is not None:
        yield node
        node = db.session.get(Org, node.parent_id) if node.parent_id is not None else None


def _ancestors(org: Org) -> list[Org]:
    """`org` and its ancestors, nearest first."""
    return list(_ancestry(org))


def sending_chain(org: Org) -> list[Org]:
    """From the member's org up to the issuing committee: the nearest committee (the org
    itself if it is one), or the tenant's root org."""
    chain = []
    for node in _ancestry(org):
        chain.append(node)
        if node.kind == OrgKind.committee:
            break
    return chain


def _add_chain(t: Transfer, chain: Chain, orgs: Sequence[Org], start: int = 0) -> None:
    for position, org in enumerate(orgs, start=start):
        db.session.add(TransferApproval(transfer_id=t.id, tenant_id=t.tenant_id,
                                        attempt=t.attempt, chain=chain, position=position,
                                        org_id=org.id, org_code=org.code, org_name=org.name))


def approvals(t: Transfer, chain: Chain | None = None) -> list[TransferApproval]:
    stmt = sa.select(TransferApproval).where(TransferApproval.transfer_id == t.id)
    if chain is not None:
        stmt = stmt.where(TransferApproval.chain == chain)
    return list(db.session.scalars(stmt.order_by(TransferApproval.chain.desc(),
                                                 TransferApproval.attempt,
                                                 TransferApproval.position)))


def pending_approval(t: Transfer) -> TransferApproval | None:
    """The next approval due on this side now, if the side is waiting for one."""
    if t.side == Side.out and t.state not in (State.applied, State.approving):
        return None
    if t.side == Side.in_ and t.state not in (State.delivered, State.approving):
        return None
    chain = Chain.send if t.side == Side.out else Chain.receive
    attempt = 0 if t.side == Side.out else t.attempt
    return db.session.scalar(
        sa.select(TransferApproval).where(
            TransferApproval.transfer_id == t.id, TransferApproval.chain == chain,
            TransferApproval.attempt == attempt, TransferApproval.decided_at.is_(None))
        .order_by(TransferApproval.position).limit(1))


# --- reading ----------------------------------------------------------------------------------


def _readable(principal: Principal, t: Transfer) -> bool:
    if t.side == Side.out and t.member_id is not None and t.member_id == principal.member_id:
        return True
    codes = [t.org_code] + ([t.to_org_code] if t.side == Side.in_ else [t.issuer_org_code])
    return any(principal.can(Role.org_viewer, code) for code in codes if code)


def get_transfer(principal: Principal, transfer_id: int) -> Transfer:
    """A side the principal may read (its member, or viewers of its orgs); else 404."""
    t = db.session.get(Transfer, transfer_id)
    if t is None or not _readable(principal, t):
        raise NotFound("No such transfer.")
    return t


def _for_update(principal: Principal, transfer_id: int) -> Transfer:
    t = get_transfer(principal, transfer_id)
    db.session.refresh(t, with_for_update=True)
    return t


@dataclasses.dataclass(frozen=True)
class TransferFilter:
    side: Side | None = None
    state: State | None = None
    #: Only sides in this org's subtree (the org must be readable).
    org_id: int | None = None
    overdue: bool = False
    #: Only what waits for the principal: a pending approval in their reach.
    actionable: bool = False
    q: str | None = None


def overdue_clause(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Open sides past the validity (before the expiry job ran), and out sides released long
    ago whose receipt has not come back."""
    return sa.or_(
        sa.and_(Transfer.state.in_([State.issued, State.delivered, State.approving,
                                    State.claimed]),
                Transfer.valid_until.is_not(None), Transfer.valid_until < now),
        sa.and_(Transfer.side == Side.out, Transfer.state == State.received,
                Transfer.released_at < now - RECEIPT_OVERDUE))


def list_transfers(principal: Principal, flt: TransferFilter, *, after_id: int | None = None,
                   limit: int = 50, now: dt.datetime | None = None) -> Sequence[Transfer]:
    """The principal's inbox: sides of their orgs' subtrees (and their own applications),
    newest first."""
    now = _now(now)
    prefixes = principal.prefixes(Role.org_viewer)
    visible = [within(Transfer.org_code, prefixes),
               sa.and_(Transfer.side == Side.in_, within(Transfer.to_org_code, prefixes)),
               sa.and_(Transfer.side == Side.out, within(Transfer.issuer_org_code, prefixes))]
    if principal.member_id is not None:
        visible.append(sa.and_(Transfer.side == Side.out,
                               Transfer.member_id == principal.member_id))
    stmt = sa.select(Transfer).where(sa.or_(*visible))
    if flt.side is not None:
        stmt = stmt.where(Transfer.side == flt.side)
    if flt.state is not None:
        stmt = stmt.where(Transfer.state == flt.state)
    if flt.org_id is not None:
        org = db.session.get(Org, flt.org_id)
        if org is None or not principal.can(Role.org_viewer, org.code):
            raise NotFound("No such organization.")
        stmt = stmt.where(within(Transfer.org_code, [org.code]))
    if flt.overdue:
        stmt = stmt.where(overdue_clause(now))
    if flt.actionable:
        admin = principal.prefixes(Role.org_admin)
        due = sa.select(TransferApproval.id).where(
            TransferApproval.transfer_id == Transfer.id,
            TransferApproval.decided_at.is_(None),
            within(TransferApproval.org_code, admin))
        stmt = stmt.where(Transfer.state.in_([State.applied, State.approving,
                                              State.delivered]), sa.exists(due))
    if flt.q:
        q = flt.q.strip()
        stmt = stmt.where(sa.or_(Transfer.member_name.contains(q, autoescape=True),
                                 Transfer.serial.contains(q, autoescape=True)))
    if after_id is not None:
        stmt = stmt.where(Transfer.id < after_id)
    return db.session.scalars(stmt.order_by(Transfer.id.desc()).limit(limit)).all()


def events(t: Transfer) -> list[TransferEvent]:
    return list(db.session.scalars(sa.select(TransferEvent)
                                   .where(TransferEvent.transfer_id == t.id)
                                   .order_by(TransferEvent.at, TransferEvent.id)))


def may(principal: Principal, t: Transfer, now: dt.datetime | None = None) -> set[str]:
    """The actions the principal may take on this side now (for pages and the API)."""
    now = _now(now)
    actions: set[str] = set()
    due = pending_approval(t)
    if due is not None and principal.can(Role.org_admin, due.org_code):
        actions |= {"approve", "reject"}
    issuer = principal.can(Role.org_admin, t.issuer_org_code) if t.issuer_org_code else False
    if t.side == Side.out:
        own = t.member_id is not None and t.member_id == principal.member_id
        if t.state in (State.applied, State.approving) and (
                own or principal.can(Role.org_admin, t.org_code)):
            actions.add("cancel")
        if t.state in (State.issued, State.rejected, State.expired) and issuer:
            actions.add("cancel")
        if t.state == State.rejected and issuer:
            actions.add("resend")
        if t.state == State.expired and issuer:
            actions.add("reissue")
        if t.state == State.issued and issuer:
            actions.add("void")
    elif t.state in (State.delivered, State.approving) and principal.can(Role.org_admin,
                                                                         t.to_org_code):
        actions.add("assign")
        if due is None and t.receiving_org_id is None:
            actions.add("reject")
    return actions


@dataclasses.dataclass(frozen=True)
class TransferView:
    transfer: Transfer
    approvals: list[TransferApproval]
    events: list[TransferEvent]
    actions: set[str]


def transfer_view(principal: Principal, t: Transfer) -> TransferView:
    return TransferView(t, approvals(t), events(t), may(principal, t))


# --- applying ---------------------------------------------------------------------------------


def _member_for(principal: Principal, member_id: int | None) -> Member:
    if member_id is None or member_id == principal.member_id:
        if principal.member_id is None:
            raise InvalidInput("Name the member to transfer.",
                               errors={"member_id": ["Required."]})
        member = db.session.get(Member, principal.member_id)
        if member is None:
            raise NotFound("This account is not linked to a member record.")
        return member
    member = db.session.get(Member, member_id)
    if member is None or not principal.can(Role.org_admin, member.org_code):
        raise InvalidInput("No such member in your scope.",
                           errors={"member_id": ["Unknown member."]})
    return member


def _destination(to_tenant: str, to_org_code: str) -> tuple[carrier.TenantPlace, str]:
    """The destination's place and the addressed org's name (if known here)."""
    place = carrier.locate(db.session(), to_tenant)
    if place is None:
        raise InvalidInput("The receiving organization is unknown.",
                           errors={"to_tenant": ["Unknown tenant."]})
    if not to_org_code.startswith(place.code_prefix):
        raise InvalidInput("The receiving organization is unknown.",
                           errors={"to_org_code": [f"Not an organization of {place.name}."]})
    name = place.name
    local = carrier.local_tenant(db.session(), to_tenant)
    if local is not None and place.node == carrier.this_node():
        with tenant_context(local.id):
            org = db.session.scalar(sa.select(Org).where(Org.code == to_org_code))
            if org is None or org.is_dissolved or org.kind == OrgKind.group:
                raise InvalidInput("The receiving organization is unknown.",
                                   errors={"to_org_code": ["Unknown organization."]})
            name = org.name
    return place, name


@_acts
def apply_transfer(principal: Principal, *, member_id: int | None, to_tenant: str,
                   to_org_code: str, reason: str, to_org_name: str | None = None,
                   auto_approve: bool = False, now: dt.datetime | None = None) -> Transfer:
    """Open the out side: by the member (own record) or a secretary of the member's org."""
    now = _now(now)
    tenant = _tenant()
    member = _member_for(principal, member_id)
    if member.status not in MAY_TRANSFER:
        raise Conflict("Only a member on the rolls can be transferred.",
                       errors={"member_id": [f"Status {member.status.value}."]})
    if member.stage not in MEMBER_STAGES:
        raise InvalidInput("Only probationary and full members have an organization "
                           "relationship to transfer.", errors={"member_id": ["Not a member."]})
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give the reason for the transfer.", errors={"reason": ["Required."]})
    busy = db.session.scalar(sa.select(Transfer.id).where(
        Transfer.side == Side.out, Transfer.member_id == member.id,
        Transfer.state.in_(list(OUT_OPEN))))
    if busy:
        raise Conflict("This member already has a transfer under way.",
                       errors={"member_id": ["A transfer is under way."]})
    place, name = _destination(to_tenant, to_org_code)
    if place.slug == tenant.slug and place.node == carrier.this_node() \
            and to_org_code == member.org_code:
        raise InvalidInput("The member is already in this organization.",
                           errors={"to_org_code": ["The member's own organization."]})
    org = db.session.get(Org, member.org_id)
    assert org is not None
    chain = sending_chain(org)
    t = Transfer(uid=new_uid(), side=Side.out, state=State.applied, attempt=0,
                 member_id=member.id, member_name=member.name, org_code=member.org_code,
                 issuer_org_code=chain[-1].code, issuer_org_name=chain[-1].name[:120],
                 from_node=carrier.this_node(),
                 from_tenant=tenant.slug, from_org_code=org.code, from_org_name=org.name,
                 to_node=place.node, to_tenant=place.slug, to_org_code=to_org_code,
                 to_org_name=(to_org_name or name)[:120], reason=reason[:255],
                 identity_hash=member.national_id_hash,
                 auto_approve=auto_approve or bool(tenant_rule(tenant, "transfer_auto_approve")))
    db.session.add(t)
    db.session.flush()
    _add_chain(t, Chain.send, chain)
    own = member.id == principal.member_id
    _event(t, "applied", now=now, org_code=org.code,
           note=reason if own else f"on behalf of the member: {reason}")
    db.session.flush()
    _auto(t, now)
    return t


# --- approving --------------------------------------------------------------------------------


def _check_open_letter(t: Transfer, now: dt.datetime) -> None:
    if t.side == Side.in_ and t.valid_until is not None and now > t.valid_until:
        raise Conflict(f"The letter expired on {t.valid_until:%Y-%m-%d}; the sending "
                       f"organization may reissue it.")


@_acts
def approve(principal: Principal, transfer_id: int, *, note: str | None = None,
            branch_id: int | None = None, now: dt.datetime | None = None) -> Transfer:
    """The next approval of the chain, by an administrator of that org (or above)."""
    now = _now(now)
    t = _for_update(principal, transfer_id)
    if branch_id is not None:
        assign_branch(principal, t.id, org_id=branch_id, now=now)
    due = pending_approval(t)
    if due is None:
        raise Conflict("Nothing waits for an approval here.")
    if not principal.can(Role.org_admin, due.org_code):
        raise Forbidden("This approval is for the administrators of "
                        f"{due.org_name}.")
    _check_open_letter(t, now)
    _decide(t, due, now=now, note=note)
    _advance(t, now)
    _auto(t, now)
    return t


def _decide(t: Transfer, due: TransferApproval, *, now: dt.datetime, note: str | None,
            actor: str | None = None) -> None:
    label, _ = _actor(actor)
    due.decided_at, due.decided_by, due.note = now, label[:80], (note or None)
    if t.state in (State.applied, State.delivered):
        t.state = State.approving
    _event(t, "approved", now=now, note=note, org_code=due.org_code, actor=actor)
    db.session.flush()


def _advance(t: Transfer, now: dt.datetime) -> TransferApproval | None:
    """After a decision: the chain is complete -> issue (out) or claim (in). Returns the next
    approval due, if the chain goes on."""
    due = pending_approval(t)
    if due is not None:
        return due
    if t.side == Side.out:
        _issue(t, now)
    elif t.receiving_org_id is None:
        return None  # the committee approved; the branch is still to be assigned
    else:
        _claim(t, now)
    return None


def _auto(t: Transfer, now: dt.datetime) -> None:
    """Automatic approvals: decide each due step at once (benchmarks, the demo, a rule)."""
    if not t.auto_approve:
        return
    due = pending_approval(t)
    while due is not None:
        if t.side == Side.in_ and t.valid_until is not None and now > t.valid_until:
            return
        _decide(t, due, now=now, note=None, actor="auto")
        due = _advance(t, now)


@_acts
def assign_branch(principal: Principal, transfer_id: int, *, org_id: int,
                  now: dt.datetime | None = None) -> Transfer:
    """The receiving committee names the branch that will receive the member; the chain runs
    down from the committee to that branch."""
    now = _now(now)
    t = _for_update(principal, transfer_id)
    if t.side != Side.in_ or t.state not in (State.delivered, State.approving):
        raise Conflict("A receiving branch is assigned to an incoming letter under approval.")
    if not principal.can(Role.org_admin, t.to_org_code):
        raise Forbidden("The addressed organization's administrators assign the branch.")
    org = db.session.get(Org, org_id)
    if org is None or not org.code.startswith(t.to_org_code) or org.is_dissolved \
            or org.kind == OrgKind.group:
        raise InvalidInput("Choose a branch under the addressed organization.",
                           errors={"org_id": ["Not a branch under the addressed organization."]})
    below = [o for o in _ancestors(org) if len(o.code) > len(t.to_org_code)]
    below.reverse()  # from just under the committee down to the branch
    for row in approvals(t, Chain.receive):
        if row.attempt == t.attempt and row.position > 0 and row.decided_at is None:
            db.session.delete(row)
    db.session.flush()
    decided = [r for r in approvals(t, Chain.receive)
               if r.attempt == t.attempt and r.position > 0]
    if decided:
        raise Conflict("The receiving chain has already moved below the committee.")
    _add_chain(t, Chain.receive, below, start=1)
    t.receiving_org_id, t.org_code = org.id, org.code
    _event(t, "branch_assigned", now=now, org_code=org.code, note=org.name)
    db.session.flush()
    _advance(t, now)
    _auto(t, now)
    return t


@_acts
def reject(principal: Principal, transfer_id: int, *, reason: str,
           reason_code: str = "refused", now: dt.datetime | None = None) -> Transfer:
    """Refuse with a reason (never without cause). On the sending chain the application is
    declined; on the receiving side the letter goes back to the sender, who may correct and
    resend it."""
    now = _now(now)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A rejection needs a reason.", errors={"reason": ["Required."]})
    if reason_code not in REJECT_CODES:
        raise InvalidInput("Unknown reason code.",
                           errors={"reason_code": [f"One of {', '.join(REJECT_CODES)}."]})
    t = _for_update(principal, transfer_id)
    due = pending_approval(t)
    if due is None and t.side == Side.in_ and t.state == State.approving \
            and t.receiving_org_id is None:
        # the committee approved but has not named a branch yet: it may still refuse
        if not principal.can(Role.org_admin, t.to_org_code):
            raise Forbidden("This decision is for the addressed organization.")
    elif due is None:
        raise Conflict("Nothing waits for a decision here.")
    elif not principal.can(Role.org_admin, due.org_code):
        raise Forbidden(f"This decision is for the administrators of {due.org_name}.")
    else:
        due.decided_at, due.note = now, reason[:500]
        due.decided_by = _actor(None)[0][:80]
    code_for = due.org_code if due is not None else t.to_org_code
    t.reason_code, t.reason_text = reason_code, reason[:500]
    if t.side == Side.out:
        t.state = State.cancelled
        _event(t, "declined", now=now, note=reason, org_code=code_for)
        db.session.flush()
        return t
    _reject_in(t, reason_code, reason, now)
    return t


def _reject_in(t: Transfer, reason_code: str, reason: str, now: dt.datetime,
               actor: str | None = None) -> None:
    t.state, t.reason_code, t.reason_text = State.rejected, reason_code, reason[:500]
    t.dossier_cipher = None  # nothing of the person is kept for a letter sent back
    _event(t, "rejected", now=now, note=f"{reason_code}: {reason}", actor=actor)
    db.session.flush()
    carrier.deliver(db.session(), t, "rejected",
                    {"attempt": t.attempt, "reason_code": reason_code, "reason": reason})


# --- the letter -------------------------------------------------------------------------------


def _next_serial(tenant: Tenant, now: dt.datetime) -> str:
    row = db.session.scalar(sa.select(TransferSerial).where(TransferSerial.year == now.year)
                            .with_for_update())
    if row is None:
        row = TransferSerial(year=now.year, last_seq=0, tenant_id=tenant.id)
        db.session.add(row)
    row.last_seq += 1
    db.session.flush()
    return f"{tenant.code_prefix}-{now.year}-{row.last_seq:06d}"


def _month(value: dt.date | None) -> str | None:
    return value.strftime("%Y-%m") if value else None


def dues_paid_up_to(member: Member) -> str | None:
    from node.dues.services import card_summary

    summary = card_summary(member.id)
    return _month(summary.paid_through) if summary is not None else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def dossier(member: Member) -> dict[str, Any]:
    """The member data a letter carries: record, history, activity record."""
    stages = db.session.scalars(sa.select(StageChange).where(StageChange.member_id == member.id)
                                .order_by(StageChange.effective_on, StageChange.id)).all()
    statuses = db.session.scalars(sa.select(StatusChange)
                                  .where(StatusChange.member_id == member.id)
                                  .order_by(StatusChange.effective_on, StatusChange.id)).all()
    orgs = db.session.execute(
        sa.select(OrgChange.effective_on, OrgChange.reason, Org.code, Org.name)
        .join(Org, Org.id == OrgChange.to_org_id).where(OrgChange.member_id == member.id)
        .order_by(OrgChange.effective_on, OrgChange.id)).all()
    activities = db.session.scalars(sa.select(ActivityEntry)
                                    .where(ActivityEntry.member_id == member.id)
                                    .order_by(ActivityEntry.occurred_on, ActivityEntry.id)
                                    .limit(2000)).all()
    return {
        "name": member.name, "gender": member.gender.value,
        "birth_date": member.birth_date.isoformat(), "ethnicity": member.ethnicity,
        "education": member.education.value if member.education else None,
        "national_id": identity().cipher.decrypt(member.national_id_cipher),
        "stage": member.stage.value, "applied_on": _iso(member.applied_on),
        "admitted_on": _iso(member.admitted_on), "full_on": _iso(member.full_on),
        "phone": member.phone, "email": member.email, "address": member.address,
        "work_unit": member.work_unit, "occupation": member.occupation,
        "stages": [{"from": s.from_stage.value if s.from_stage else None,
                    "to": s.to_stage.value, "effective_on": s.effective_on.isoformat(),
                    "note": s.note} for s in stages],
        "statuses": [{"from": s.from_status.value if s.from_status else None,
                      "to": s.to_status.value, "effective_on": s.effective_on.isoformat(),
                      "reason": s.reason} for s in statuses],
        "orgs": [{"org_code": code, "org_name": name, "effective_on": on.isoformat(),
                  "reason": why} for on, why, code, name in orgs],
        "activities": [{"kind": a.kind, "title": a.title,
                        "occurred_on": a.occurred_on.isoformat(), "credits": str(a.credits),
                        "points": a.points, "source": a.source} for a in activities],
    }


def _letter_fields(t: Transfer) -> dict[str, Any]:
    """The letter's metadata, as either side keeps it on its row."""
    assert t.issued_at is not None and t.valid_until is not None
    return {"serial": t.serial, "attempt": t.attempt, "issued_at": format_time(t.issued_at),
            "valid_until": format_time(t.valid_until), "dues_paid_up_to": t.dues_paid_up_to,
            "reason": t.reason, "from_node": t.from_node, "from_tenant": t.from_tenant,
            "from_org_code": t.from_org_code, "from_org_name": t.from_org_name,
            "to_tenant": t.to_tenant, "to_org_code": t.to_org_code,
            "to_org_name": t.to_org_name, "identity_hash": t.identity_hash,
            "issuer_org_name": t.issuer_org_name}


def letter_body(t: Transfer, member: Member) -> dict[str, Any]:
    """The body of the `letter` step (the introduction letter, 介绍信)."""
    return {**_letter_fields(t), "dossier": dossier(member)}


def held_dossier(t: Transfer) -> dict[str, Any] | None:
    """The letter's member data the in side holds encrypted until reception (None once
    dropped: rejected, cancelled, refused or received)."""
    if not t.dossier_cipher:
        return None
    data: dict[str, Any] = json.loads(identity().cipher.decrypt(t.dossier_cipher))
    return data


#: When a side's letter can be printed: out: once issued (the stub stays on file after
#: reception); in: while the dossier is held, and after reception from the member row.
PRINTABLE = {Side.out: frozenset({State.issued, State.received, State.closed}),
             Side.in_: frozenset({State.delivered, State.approving, State.claimed,
                                  State.received})}


def _prints(principal: Principal, t: Transfer) -> bool:
    """Who prints: out: the issuing committee's administrators and the member; in: the
    addressed organization's (the receiving committee keeps the letter and returns the
    receipt). The receiving branch reads the side but does not print the national ID."""
    if t.side == Side.out:
        own = t.member_id is not None and t.member_id == principal.member_id
        return own or (t.issuer_org_code is not None
                       and principal.can(Role.org_admin, t.issuer_org_code))
    return principal.can(Role.org_admin, t.to_org_code)


def may_print(principal: Principal, t: Transfer) -> bool:
    """Whether the principal may print this side's letter now (the pages' link)."""
    if not _prints(principal, t) or t.state not in PRINTABLE[t.side]:
        return False
    if t.serial is None or t.issued_at is None or t.valid_until is None:
        return False
    if t.side == Side.in_:
        return t.member_id is not None if t.state == State.received \
            else t.dossier_cipher is not None
    return t.member_id is not None


def printable_letter(principal: Principal, t: Transfer) -> dict[str, Any]:
    """The data of the printable letter (`node.transfers.letter.render_letter`) of a side.

    Raises Forbidden for someone who does not print this side's letters, Conflict when there
    is no valid letter (not issued yet, expired, cancelled, rejected, refused)."""
    if not _prints(principal, t):
        raise Forbidden("The issuing committee's administrators print the letter."
                        if t.side == Side.out
                        else "The addressed organization's administrators print the letter.")
    if not may_print(principal, t):
        raise Conflict("No valid letter to print.")
    if t.side == Side.out:
        member = db.session.get(Member, t.member_id)
        assert member is not None
        issuer = t.issuer_org_name or next((a.org_name for a in approvals(t, Chain.send)
                                            if a.org_code == t.issuer_org_code), None)
        return {**letter_body(t, member), "uid": t.uid,
                "issuer_name": issuer or _tenant(t.tenant_id).name, "received_at": None}
    if t.state != State.received:
        return {**_letter_fields(t), "uid": t.uid, "dossier": held_dossier(t),
                "issuer_name": t.issuer_org_name}
    # received: the person is on our rolls now; the receipt is filled in
    member = db.session.get(Member, t.member_id)
    assert member is not None
    placed = db.session.get(Org, t.receiving_org_id) if t.receiving_org_id else None
    return {**_letter_fields(t), "uid": t.uid, "dossier": dossier(member),
            "received_at": format_time(t.received_at) if t.received_at else None,
            "issuer_name": t.issuer_org_name,
            "received_org_name": placed.name if placed is not None else member.org_code,
            "receiver_stamp_name": t.to_org_name}


def _send_letter(t: Transfer, now: dt.datetime, *, new_serial: bool = False,
                 action: str = "issued", note: str | None = None) -> None:
    """A new attempt: serial, validity, dues paid up to, then the letter to the other side."""
    tenant = _tenant(t.tenant_id)
    member = db.session.get(Member, t.member_id)
    assert member is not None
    place, _ = _destination(t.to_tenant, t.to_org_code)
    paid = dues_paid_up_to(member)  # before the row changes: its query autoflushes
    t.to_node = place.node
    if t.serial is None or new_serial:
        t.serial = _next_serial(tenant, now)
    t.attempt += 1
    t.state, t.issued_at = State.issued, now
    t.valid_until = now + validity(tenant, place.region_code)
    t.dues_paid_up_to = paid
    t.reason_code = t.reason_text = None
    _event(t, action, now=now, note=note or f"{t.serial}, valid until "
                                            f"{t.valid_until:%Y-%m-%d}",
           org_code=t.issuer_org_code)
    db.session.flush()
    carrier.deliver(db.session(), t, "letter", letter_body(t, member))


def _issue(t: Transfer, now: dt.datetime) -> None:
    _send_letter(t, now)


def _require_issuer(principal: Principal, t: Transfer) -> None:
    if t.side != Side.out:
        raise Conflict("Only the sending side sends letters.")
    if not principal.can(Role.org_admin, t.issuer_org_code):
        raise Forbidden("The issuing committee's administrators act on the letter.")


@_acts
def resend(principal: Principal, transfer_id: int, *, to_tenant: str | None = None,
           to_org_code: str | None = None, reason: str | None = None,
           now: dt.datetime | None = None) -> Transfer:
    """Correct a rejected transfer (destination, reason) and send a new letter."""
    now = _now(now)
    t = _for_update(principal, transfer_id)
    _require_issuer(principal, t)
    if t.state != State.rejected:
        raise Conflict("Only a rejected transfer is corrected and sent again.")
    if to_tenant or to_org_code:
        place, name = _destination(to_tenant or t.to_tenant, to_org_code or t.to_org_code)
        t.to_node, t.to_tenant = place.node, place.slug
        t.to_org_code, t.to_org_name = to_org_code or t.to_org_code, name[:120]
    if reason is not None and reason.strip():
        t.reason = reason.strip()[:255]
    _send_letter(t, now, action="resent")
    return t


@_acts
def reissue(principal: Principal, transfer_id: int, *,
            now: dt.datetime | None = None) -> Transfer:
    """A new letter with a new validity after the old one expired."""
    now = _now(now)
    t = _for_update(principal, transfer_id)
    _require_issuer(principal, t)
    if t.state != State.expired:
        raise Conflict("Only an expired letter is reissued.")
    _send_letter(t, now, action="reissued")
    return t


@_acts
def void(principal: Principal, transfer_id: int, *, note: str,
         now: dt.datetime | None = None) -> Transfer:
    """The letter was lost: it is void, and a new one (new serial) goes out at once."""
    now = _now(now)
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Say what happened to the letter.", errors={"note": ["Required."]})
    t = _for_update(principal, transfer_id)
    _require_issuer(principal, t)
    if t.state != State.issued:
        raise Conflict("Only a letter that is out can be voided.")
    old = t.serial
    _send_letter(t, now, new_serial=True, action="voided_reissued",
                 note=f"{old} void ({note}); new letter")
    return t


@_acts
def cancel(principal: Principal, transfer_id: int, *, reason: str | None = None,
           now: dt.datetime | None = None) -> Transfer:
    """Cancel before reception: the member or their branch while under approval, the issuing
    committee until the claim is accepted."""
    now = _now(now)
    t = _for_update(principal, transfer_id)
    if t.side != Side.out:
        raise Conflict("The receiving side rejects a letter; it does not cancel it.")
    if "cancel" not in may(principal, t, now):
        if t.state in FINAL[Side.out] or t.state == State.received:
            raise Conflict("The transfer can no longer be cancelled.")
        raise Forbidden("You may not cancel this transfer.")
    t.state = State.cancelled
    t.reason_code, t.reason_text = "cancelled", (reason or "").strip()[:500] or None
    _event(t, "cancelled", now=now, note=reason)
    db.session.flush()
    if t.attempt > 0:
        carrier.deliver(db.session(), t, "cancelled", {"attempt": t.attempt})
    return t


# --- expiry -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expired:
    out: int
    in_: int


def expire_due(now: dt.datetime | None = None) -> Expired:
    """Both sides whose letter's validity passed: the sender's (issued or rejected; it may
    reissue) and the receiver's (not yet claimed: an expired letter cannot be received)."""
    now = _now(now)
    with all_tenants():
        rows = db.session.execute(sa.select(Transfer.id, Transfer.tenant_id).where(
            Transfer.valid_until < now,
            sa.or_(sa.and_(Transfer.side == Side.out,
                           Transfer.state.in_([State.issued, State.rejected])),
                   sa.and_(Transfer.side == Side.in_,
                           Transfer.state.in_([State.delivered, State.approving]))))
            .order_by(Transfer.id)).all()
    counts = {Side.out: 0, Side.in_: 0}
    for transfer_id, tenant_id in rows:
        with tenant_context(tenant_id):
            t = db.session.get(Transfer, transfer_id)
            assert t is not None
            t.state = State.expired
            _event(t, "expired", now=now, actor="system",
                   note=f"valid until {t.valid_until:%Y-%m-%d %H:%M} UTC")
            db.session.flush()
            counts[t.side] += 1
    return Expired(counts[Side.out], counts[Side.in_])


# --- steps from the other side ----------------------------------------------------------------


def _str(body: dict[str, Any], key: str, *, required: bool = True,
         choices: Sequence[str] | None = None) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"The step's {key} is missing or malformed.", errors={key: ["Bad."]})
    if choices is not None and value not in choices:
        raise InvalidInput(f"The step's {key} is not one of {', '.join(choices)}.",
                           errors={key: ["Unknown."]})
    return value


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"The step's {key} is missing or malformed.", errors={key: ["Bad."]})
    return value


def _time(body: dict[str, Any], key: str) -> dt.datetime:
    try:
        return parse_time(body.get(key))  # type: ignore[arg-type]
    except ValueError:
        raise InvalidInput(f"The step's {key} is not a UTC time.",
                           errors={key: ["Bad time."]}) from None


def _date(value: Any, key: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"The dossier's {key} is not a date.",
                           errors={key: ["Bad date."]}) from None


def _check_dossier(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("The letter has no member data.", errors={"dossier": ["Missing."]})
    for key in ("name", "gender", "birth_date", "national_id", "stage"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise InvalidInput(f"The letter's member data lacks {key}.",
                               errors={f"dossier.{key}": ["Missing."]})
    try:
        nid.normalize_national_id(data["national_id"])
        Stage(data["stage"])
        Gender(data["gender"])
    except (nid.InvalidNationalId, ValueError):
        raise InvalidInput("The letter's member data is malformed.",
                           errors={"dossier": ["Malformed."]}) from None
    _date(data["birth_date"], "birth_date")
    for key in ("stages", "statuses", "orgs", "activities"):
        if not isinstance(data.get(key, []), list):
            raise InvalidInput(f"The letter's {key} is not a list.", errors={key: ["Bad."]})
    return data


OUT_SIDE_STEPS = frozenset({"rejected", "claim", "receipt", "undeliverable"})
IN_SIDE_STEPS = frozenset({"letter", "released", "refused", "cancelled"})


def apply_step(session: Session, *, tenant_slug: str, uid: str, step: str,
               body: dict[str, Any], sender_node: str) -> None:
    """Apply the other side's step to this tenant's side of transfer `uid`.

    Idempotent: a duplicate, a step of an older attempt, or a step that no longer fits the
    state is a no-op. Only a malformed body raises (InvalidInput); a tenant this node does
    not host, or a step from a node that is not the transfer's other side, raises NotFound
    or Forbidden (the bus quarantines the message).
    """
    if step not in OUT_SIDE_STEPS | IN_SIDE_STEPS:
        raise InvalidInput(f"Unknown transfer step {step!r}.", errors={"step": ["Unknown."]})
    if not isinstance(body, dict):
        raise InvalidInput("The step's body is not an object.")
    tenant = carrier.local_tenant(session, tenant_slug)
    if tenant is None:
        raise NotFound(f"No tenant {tenant_slug!r} on this node.")
    now = clock()
    token = _acting.set(None)
    try:
        _apply_step(session, tenant, uid, step, body, sender_node, now)
    finally:
        _acting.reset(token)


def _apply_step(session: Session, tenant: Tenant, uid: str, step: str, body: dict[str, Any],
                sender_node: str, now: dt.datetime) -> None:
    with tenant_context(tenant.id):
        side = Side.out if step in OUT_SIDE_STEPS else Side.in_
        t = session.scalar(sa.select(Transfer).where(Transfer.uid == uid, Transfer.side == side)
                           .with_for_update())
        if t is not None:
            peer_node = t.to_node if side == Side.out else t.from_node
            if step != "undeliverable" and sender_node != peer_node:
                raise Forbidden(f"Node {sender_node!r} is not the other side of {uid}.")
        if side == Side.out:
            if t is not None:
                _OUT_HANDLERS[step](t, body, now)
        elif step == "letter":
            _on_letter(tenant, t, uid, body, sender_node, now)
        elif step == "cancelled":
            _on_cancelled(tenant, t, uid, body, sender_node, now)
        elif t is not None:
            _IN_HANDLERS[step](t, body, now)
        session.flush()


def _peer_actor(t: Transfer) -> str:
    other = t.to_tenant if t.side == Side.out else t.from_tenant
    return f"transfer:{other}"[:80]


# out side: rejected, claim, receipt, undeliverable

def _on_rejected(t: Transfer, body: dict[str, Any], now: dt.datetime,
                 action: str = "rejected_by_destination",
                 codes: Sequence[str] = REJECT_CODES) -> None:
    attempt = _int(body, "attempt")
    code = _str(body, "reason_code", choices=codes)
    text = _str(body, "reason" if action != "undeliverable" else "detail",
                required=action != "undeliverable") or code
    if attempt != t.attempt or t.state not in (State.issued, State.expired):
        return
    t.state, t.reason_code, t.reason_text = State.rejected, code, (text or "")[:500]
    _event(t, action, now=now, note=f"{code}: {text}", actor=_peer_actor(t))


def _on_undeliverable(t: Transfer, body: dict[str, Any], now: dt.datetime) -> None:
    """The hub would not route our step. A letter: like a rejection. Our `released`: the
    destination will never hear it, so it never activates the member — take the member back
    on our rolls (never in none) and treat the transfer as rejected."""
    if t.state == State.received and _int(body, "attempt") == t.attempt:
        code = _str(body, "reason_code", choices=UNDELIVERABLE_CODES)
        text = _str(body, "detail", required=False) or code
        member = db.session.get(Member, t.member_id) if t.member_id else None
        if member is not None and member.status == Status.transferred_out:
            db.session.add(StatusChange(member_id=member.id, tenant_id=member.tenant_id,
                                        from_status=member.status, to_status=Status.active,
                                        effective_on=now.date(),
                                        reason=f"release of letter {t.serial} undeliverable"))
            member.status = Status.active
            db.session.flush()
            identity_index.member_indexed(member)
        t.state, t.reason_code, t.reason_text = State.rejected, code, (text or "")[:500]
        t.released_at = None
        _event(t, "release_undeliverable", now=now, note=f"{code}: {text}",
               actor=_peer_actor(t))
        return
    _on_rejected(t, body, now, action="undeliverable", codes=UNDELIVERABLE_CODES)


def _on_claim(t: Transfer, body: dict[str, Any], now: dt.datetime) -> None:
    """The linearization point: accept (the member leaves our rolls) or refuse."""
    attempt = _int(body, "attempt")
    claimed_at = _time(body, "claimed_at")
    if attempt > t.attempt:
        return  # from the future: not a letter we sent
    if t.state in (State.received, State.closed):
        if attempt == t.attempt:  # the destination did not hear us: say it again
            carrier.deliver(db.session(), t, "released",
                            {"attempt": t.attempt, "released_at": format_time(t.released_at
                                                                              or now)})
        return
    code = None
    if attempt < t.attempt:
        code = "voided" if t.state == State.issued else "stale_attempt"
    elif t.state == State.cancelled:
        code = "cancelled"
    elif t.state not in (State.issued, State.expired):
        code = "stale_attempt"
    elif t.valid_until is None or claimed_at > t.valid_until:
        code = "expired"
    if code is not None:
        note = f"attempt {attempt}: {code}"
        seen = db.session.scalar(sa.select(TransferEvent.id).where(
            TransferEvent.transfer_id == t.id, TransferEvent.action == "claim_refused",
            TransferEvent.note == note).limit(1))
        if seen is None:  # a repeated claim gets the answer again, the trail one line
            _event(t, "claim_refused", now=now, note=note, actor=_peer_actor(t))
        carrier.deliver(db.session(), t, "refused", {"attempt": attempt, "reason_code": code})
        return
    member = db.session.get(Member, t.member_id)
    assert member is not None
    t.state, t.claimed_at, t.released_at = State.received, claimed_at, now
    same_tenant = t.to_node == t.from_node and t.to_tenant == t.from_tenant
    if not same_tenant and member.status != Status.transferred_out:
        db.session.add(StatusChange(member_id=member.id, tenant_id=member.tenant_id,
                                    from_status=member.status, to_status=Status.transferred_out,
                                    effective_on=now.date(),
                                    reason=f"transferred out, letter {t.serial}"))
        member.status = Status.transferred_out
        db.session.flush()
        identity_index.member_indexed(member)
        # Away on a floating certificate: it ends with the relationship it rested on.
        floating.end_for_member(member.id, _tenant(t.tenant_id), now.astimezone(LOCAL_TZ).date())
    _event(t, "released", now=now, actor=_peer_actor(t),
           note=f"claimed {format_time(claimed_at)}")
    db.session.flush()
    carrier.deliver(db.session(), t, "released",
                    {"attempt": t.attempt, "released_at": format_time(now)})


def _on_receipt(t: Transfer, body: dict[str, Any], now: dt.datetime) -> None:
    attempt = _int(body, "attempt")
    _time(body, "received_at")
    number = _str(body, "member_number", required=False)
    org_code = _str(body, "org_code", required=False)
    if attempt != t.attempt or t.state != State.received:
        return
    t.state, t.closed_at = State.closed, now
    t.destination_member_number, t.destination_org_code = number, org_code
    _event(t, "closed", now=now, actor=_peer_actor(t),
           note=f"receipt: {number or '-'} at {org_code or '-'}")


_OUT_HANDLERS: dict[str, Callable[[Transfer, dict[str, Any], dt.datetime], None]] = {
    "rejected": _on_rejected, "undeliverable": _on_undeliverable, "claim": _on_claim,
    "receipt": _on_receipt}


# in side: letter, released, refused, cancelled

def _active_elsewhere(digest: str, t: Transfer) -> bool:
    """On the rolls of a tenant other than the origin's: here (this tenant), or another tenant
    of this node. (Across nodes the hub checks its identity index when it routes the letter.)"""
    origin = carrier.local_tenant(db.session(), t.from_tenant) \
        if t.from_node == carrier.this_node() else None
    with all_tenants():
        stmt = sa.select(Member.id).where(Member.national_id_hash == digest,
                                          Member.status.not_in(list(identity_index.GONE)))
        if origin is not None:
            stmt = stmt.where(Member.tenant_id != origin.id)
        return db.session.scalar(stmt.limit(1)) is not None


def _on_letter(tenant: Tenant, t: Transfer | None, uid: str, body: dict[str, Any],
               sender_node: str, now: dt.datetime) -> None:
    attempt = _int(body, "attempt")
    if t is not None and (attempt <= t.attempt or t.state == State.received):
        return  # a duplicate, an older letter, or already received
    serial = _str(body, "serial")
    issued_at, valid_until = _time(body, "issued_at"), _time(body, "valid_until")
    to_org_code = _str(body, "to_org_code")
    digest = _str(body, "identity_hash")
    data = _check_dossier(body.get("dossier"))
    if identity().hasher.hash(data["national_id"]) != digest:
        raise InvalidInput("The letter's identity hash does not match its member data.",
                           errors={"identity_hash": ["Mismatch."]})
    paid = _str(body, "dues_paid_up_to", required=False)
    fields = dict(
        serial=serial, attempt=attempt, member_name=str(data["name"])[:60],
        from_node=str(body.get("from_node") or sender_node)[:64],
        from_tenant=_str(body, "from_tenant"), from_org_code=_str(body, "from_org_code"),
        from_org_name=str(_str(body, "from_org_name"))[:120], to_node=carrier.this_node(),
        to_tenant=tenant.slug, to_org_code=to_org_code,
        to_org_name=str(body.get("to_org_name") or to_org_code)[:120],
        reason=str(body.get("reason") or "")[:255], identity_hash=digest,
        issuer_org_name=str(body["issuer_org_name"])[:120] if body.get("issuer_org_name")
        else None,
        issued_at=issued_at, valid_until=valid_until, dues_paid_up_to=paid,
        dossier_cipher=identity().cipher.encrypt(json.dumps(data, ensure_ascii=False)),
        claimed_at=None, released_at=None, reason_code=None, reason_text=None,
        receiving_org_id=None)
    org = db.session.scalar(sa.select(Org).where(Org.code == to_org_code))
    if t is None:
        t = Transfer(uid=uid, side=Side.in_, state=State.delivered, org_code=to_org_code,
                     auto_approve=bool(tenant_rule(tenant, "transfer_auto_approve")), **fields)
        db.session.add(t)
    else:
        for key, value in fields.items():
            setattr(t, key, value)
        t.state, t.org_code = State.delivered, to_org_code
    db.session.flush()
    _event(t, "letter_received", now=now, actor=_peer_actor(t),
           note=f"{serial} from {t.from_org_name}, valid until {valid_until:%Y-%m-%d}")
    if org is None or org.is_dissolved or org.kind == OrgKind.group:
        t.org_code = tenant.code_prefix  # the tenant's administrators see the refusal
        _reject_in(t, "unknown_org", "The addressed organization does not exist here.", now,
                   actor="system")
        return
    if _active_elsewhere(digest, t):
        _reject_in(t, "already_active",
                   "The person is already on the rolls of another organization.", now,
                   actor="system")
        return
    if now > valid_until:
        t.state = State.expired
        _event(t, "expired", now=now, actor="system", note="arrived after its validity")
        return
    chain = [org]
    if org.kind != OrgKind.committee:
        t.receiving_org_id, t.org_code = org.id, org.code
    _add_chain(t, Chain.receive, chain)
    db.session.flush()
    _auto(t, now)


def _on_cancelled(tenant: Tenant, t: Transfer | None, uid: str, body: dict[str, Any],
                  sender_node: str, now: dt.datetime) -> None:
    attempt = _int(body, "attempt")
    if t is None:
        # Overtook its letter: keep a tombstone so the letter, when it comes, is stale.
        t = Transfer(uid=uid, side=Side.in_, state=State.cancelled, attempt=attempt,
                     member_name="", org_code=tenant.code_prefix, from_node=sender_node,
                     from_tenant="", from_org_code="", from_org_name="",
                     to_node=carrier.this_node(), to_tenant=tenant.slug,
                     to_org_code=tenant.code_prefix, to_org_name="", reason="",
                     identity_hash="", reason_code="cancelled")
        db.session.add(t)
        db.session.flush()
        _event(t, "cancelled", now=now, actor=f"node:{sender_node}"[:80],
               note="cancelled before the letter arrived")
        return
    if t.state in (State.received, State.cancelled) or attempt < t.attempt:
        return
    t.attempt = attempt
    t.state, t.reason_code, t.dossier_cipher = State.cancelled, "cancelled", None
    _event(t, "cancelled", now=now, actor=_peer_actor(t), note="cancelled by the sender")


def _on_refused(t: Transfer, body: dict[str, Any], now: dt.datetime) -> None:
    attempt = _int(body, "attempt")
    code = _str(body, "reason_code", choices=REFUSED_CODES)
    if attempt != t.attempt or t.state != State.claimed:
        return
    t.state, t.reason_code, t.dossier_cipher = State.refused, code, None
    _event(t, "claim_refused", now=now, actor=_peer_actor(t), note=code)


def _on_released(t: Transfer, body: dict[str, Any], now: dt.datetime) -> None:
    """The origin let go: the member is active here from now on (whatever our state: the
    origin has taken the member off its rolls, so we must not leave them nowhere)."""
    attempt = _int(body, "attempt")
    _time(body, "released_at")
    if attempt != t.attempt:
        return
    if t.state == State.received:
        _send_receipt(t, now)  # the origin may not have heard: say it again
        return
    member = _activate(t, now)
    t.state, t.received_at, t.member_id = State.received, now, member.id
    t.dossier_cipher = None
    _event(t, "received", now=now, actor=_peer_actor(t),
           note=f"member number {member.member_number}")
    db.session.flush()
    _send_receipt(t, now)


def _send_receipt(t: Transfer, now: dt.datetime) -> None:
    member = db.session.get(Member, t.member_id) if t.member_id else None
    carrier.deliver(db.session(), t, "receipt", {
        "attempt": t.attempt, "received_at": format_time(t.received_at or now),
        "member_number": member.member_number if member else None,
        "org_code": member.org_code if member else None})


_IN_HANDLERS: dict[str, Callable[[Transfer, dict[str, Any], dt.datetime], None]] = {
    "released": _on_released, "refused": _on_refused}


# --- claiming and activating ------------------------------------------------------------------


def _claim(t: Transfer, now: dt.datetime) -> None:
    """The receiving branch approved: ask the origin to let the member go (never after the
    letter's validity, by our own clock; never for someone already on the rolls elsewhere)."""
    assert t.valid_until is not None
    if now > t.valid_until:
        raise Conflict(f"The letter expired on {t.valid_until:%Y-%m-%d}; the sending "
                       f"organization may reissue it.")
    if _active_elsewhere(t.identity_hash, t):
        _reject_in(t, "already_active",
                   "The person is already on the rolls of another organization.", now,
                   actor="system")
        return
    t.state, t.claimed_at = State.claimed, now
    _event(t, "claimed", now=now, actor="system")
    db.session.flush()
    carrier.deliver(db.session(), t, "claim",
                    {"attempt": t.attempt, "claimed_at": format_time(now)})


def _activate(t: Transfer, now: dt.datetime) -> Member:
    """The member on our rolls, active, in the receiving branch, with their history."""
    branch = db.session.get(Org, t.receiving_org_id) if t.receiving_org_id else None
    if branch is None:  # released before a branch was named: the addressed org, or the root
        tenant = _tenant(t.tenant_id)
        branch = db.session.scalar(sa.select(Org).where(Org.code == t.to_org_code)) \
            or db.session.scalar(sa.select(Org).where(Org.code == tenant.code_prefix))
        assert branch is not None
        t.receiving_org_id = branch.id
    data = held_dossier(t) or {}
    today = now.date()
    why = f"transferred in from {t.from_org_name} ({t.from_org_code}), letter {t.serial}"
    existing = db.session.scalar(sa.select(Member).where(
        Member.national_id_hash == t.identity_hash))
    if existing is not None:
        if existing.org_id != branch.id:
            db.session.add(OrgChange(member_id=existing.id, tenant_id=t.tenant_id,
                                     from_org_id=existing.org_id, to_org_id=branch.id,
                                     effective_on=today, reason=why[:255]))
            existing.org_id, existing.org_code = branch.id, branch.code
        if existing.status != Status.active:
            db.session.add(StatusChange(member_id=existing.id, tenant_id=t.tenant_id,
                                        from_status=existing.status, to_status=Status.active,
                                        effective_on=today, reason=why[:255]))
            existing.status = Status.active
            db.session.flush()
            identity_index.member_indexed(existing)
        db.session.flush()
        return existing
    tenant = _tenant(t.tenant_id)
    national_id = nid.normalize_national_id(data["national_id"])
    member = Member(
        tenant_id=t.tenant_id, member_number=allocate_member_numbers(tenant, 1)[0],
        org_id=branch.id, org_code=branch.code, name=str(data["name"])[:60],
        gender=Gender(data["gender"]), birth_date=_date(data["birth_date"], "birth_date"),
        ethnicity=(data.get("ethnicity") or None) and str(data["ethnicity"])[:30],
        education=Education(data["education"])
        if data.get("education") in Education.__members__ else None,
        national_id_cipher=identity().cipher.encrypt(national_id),
        national_id_hash=t.identity_hash, national_id_masked=nid.mask_national_id(national_id),
        stage=Stage(data["stage"]), status=Status.active,
        applied_on=_date(data.get("applied_on"), "applied_on"),
        admitted_on=_date(data.get("admitted_on"), "admitted_on"),
        full_on=_date(data.get("full_on"), "full_on"),
        **{key: (str(data[key])[:size] if data.get(key) else None)
           for key, size in (("phone", 30), ("email", 120), ("address", 255),
                             ("work_unit", 120), ("occupation", 60))})
    db.session.add(member)
    db.session.flush()
    source = f"transfer:{t.serial}"[:80]
    rows: list[Any] = []
    for s in data.get("stages") or []:
        try:
            rows.append(StageChange(member_id=member.id, tenant_id=t.tenant_id,
                                    from_stage=Stage(s["from"]) if s.get("from") else None,
                                    to_stage=Stage(s["to"]),
                                    effective_on=dt.date.fromisoformat(s["effective_on"]),
                                    note=(s.get("note") or None) and str(s["note"])[:255]))
        except (KeyError, TypeError, ValueError):
            continue  # a history line we cannot read is not a reason to lose the member
    for s in data.get("statuses") or []:
        try:
            rows.append(StatusChange(member_id=member.id, tenant_id=t.tenant_id,
                                     from_status=Status(s["from"]) if s.get("from") else None,
                                     to_status=Status(s["to"]),
                                     effective_on=dt.date.fromisoformat(s["effective_on"]),
                                     reason=(s.get("reason") or None)
                                     and str(s["reason"])[:255]))
        except (KeyError, TypeError, ValueError):
            continue
    rows.append(StatusChange(member_id=member.id, tenant_id=t.tenant_id,
                             from_status=Status.transferred_out, to_status=Status.active,
                             effective_on=today, reason=why[:255]))
    rows.append(OrgChange(member_id=member.id, tenant_id=t.tenant_id, from_org_id=None,
                          to_org_id=branch.id, effective_on=today, reason=why[:255]))
    for o in data.get("orgs") or []:
        try:
            rows.append(ActivityEntry(
                member_id=member.id, tenant_id=t.tenant_id, kind="org_history",
                title=f"{o['org_name']} ({o['org_code']})"[:200],
                occurred_on=dt.date.fromisoformat(o["effective_on"]), source=source))
        except (KeyError, TypeError, ValueError):
            continue
    for a in data.get("activities") or []:
        try:
            rows.append(ActivityEntry(
                member_id=member.id, tenant_id=t.tenant_id, kind=str(a["kind"])[:40],
                title=str(a["title"])[:200],
                occurred_on=dt.date.fromisoformat(a["occurred_on"]),
                credits=Decimal(str(a.get("credits") or "0")), points=int(a.get("points") or 0),
                source=source))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    if t.dues_paid_up_to:
        rows.append(ActivityEntry(member_id=member.id, tenant_id=t.tenant_id,
                                  kind="dues_paid_up_to",
                                  title=f"dues paid up to {t.dues_paid_up_to}",
                                  occurred_on=today, source=source))
    db.session.add_all(rows)
    db.session.flush()
    identity_index.member_indexed(member)
    return member
