"""Directives and study items from the hub: receiving, showing, reading, completing, reporting.

Who sees what (the tenant is already the context's):

- a directive for `all` is for every account of each targeted tenant; one for `secretaries`
  only for accounts holding an organization administrator role (org_admin or tenant_admin)
  somewhere; anyone else gets 404, like a directive that does not exist; a withdrawn directive
  is gone for everyone;
- opening a directive records a read for the account; study items and directives with a
  deadline can also be marked completed (which implies the read);
- secretaries and other console users (org_viewer or stronger) see the counts of their
  subtrees: for `all`, members on the rolls of the subtree, how many of them read and
  completed; for `secretaries`, the active administrator accounts with a grant in the subtree.

The hub gets the same counts for the whole tenant (`partynet.directive.receipt.v1`), counts
only, never a name: from the relay's periodic job for the directives whose counts changed since
the last receipt, and on demand from `partynet node directives report`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from federation.delivery import send
from federation.keys import HUB, format_time, parse_time, utcnow
from federation.messages.directives import RECEIPT
from node.accounts.models import Account
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.directives.models import Audience, Directive, DirectiveKind, DirectiveRead, Priority
from node.grants.models import Grant, Role
from node.members.models import Member
from node.stats.services import GONE
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.tenants.services import get_tenant_by_slug, list_tenants
from shared.errors import Conflict, Forbidden, NotFound

#: How often the relay worker looks for changed counts to report, in seconds.
RECEIPT_INTERVAL = 300
#: Pinned items shown at the top of a home page.
PINNED_ON_HOME = 5
#: Grants that make an account one of the "secretaries" audience.
SECRETARY_ROLES = (Role.org_admin, Role.tenant_admin)


# --- who sees what ----------------------------------------------------------------------------


def is_secretary(principal: Principal) -> bool:
    return bool(principal.prefixes(Role.org_admin))


def visible_clause(principal: Principal) -> sa.ColumnElement[bool]:
    """SQL: the directives this principal may see (the tenant is already set)."""
    live = Directive.withdrawn_at.is_(None)
    if is_secretary(principal):
        return live
    return sa.and_(live, Directive.audience == Audience.all)


def _priority_rank() -> sa.ColumnElement[int]:
    return sa.case((Directive.priority == Priority.urgent, 0),
                   (Directive.priority == Priority.high, 1), else_=2)


def _ordering() -> list[sa.ColumnElement[Any]]:
    """Pinned first, then the most urgent, then the nearest deadline (none last), newest."""
    return [Directive.pinned.desc(), _priority_rank(),
            sa.case((Directive.deadline.is_(None), 1), else_=0), Directive.deadline.asc(),
            Directive.published_at.desc(), Directive.id.desc()]


@dataclasses.dataclass(frozen=True)
class Entry:
    """A directive as one account sees it: with its own read and completion."""

    directive: Directive
    read_at: dt.datetime | None
    completed_at: dt.datetime | None

    @property
    def overdue(self) -> bool:
        deadline = self.directive.deadline
        return (deadline is not None and self.completed_at is None and deadline < utcnow()
                and self.directive.completable)


def list_directives(principal: Principal, *, pinned_only: bool = False,
                    kind: DirectiveKind | None = None, offset: int = 0,
                    limit: int = 50) -> list[Entry]:
    """What the principal may see, pinned first, then by priority and deadline."""
    query = (sa.select(Directive, DirectiveRead.read_at, DirectiveRead.completed_at)
             .outerjoin(DirectiveRead, sa.and_(DirectiveRead.directive_id == Directive.id,
                                               DirectiveRead.account_id == principal.account_id))
             .where(visible_clause(principal)))
    if pinned_only:
        query = query.where(Directive.pinned.is_(True))
    if kind is not None:
        query = query.where(Directive.kind == kind)
    rows = db.session.execute(query.order_by(*_ordering()).offset(offset).limit(limit)).all()
    return [Entry(directive, read_at, completed_at)
            for directive, read_at, completed_at in rows]


def pinned_for(principal: Principal) -> list[Entry]:
    """The pinned items at the top of a home page."""
    return list_directives(principal, pinned_only=True, limit=PINNED_ON_HOME)


def get_directive(principal: Principal, directive_id: int) -> Directive:
    """The directive if the principal may see it; 404 otherwise (existence is not revealed)."""
    directive = db.session.scalar(sa.select(Directive).where(
        Directive.id == directive_id, visible_clause(principal)))
    if directive is None:
        raise NotFound()
    return directive


def entry(principal: Principal, directive_id: int) -> Entry:
    directive = get_directive(principal, directive_id)
    mine = _read_row(principal, directive)
    return Entry(directive, mine.read_at if mine else None,
                 mine.completed_at if mine else None)


def _read_row(principal: Principal, directive: Directive) -> DirectiveRead | None:
    return db.session.scalar(sa.select(DirectiveRead).where(
        DirectiveRead.directive_id == directive.id,
        DirectiveRead.account_id == principal.account_id))


def record_read(principal: Principal, directive_id: int) -> Entry:
    """The principal opened the directive: its first read is recorded (a repeat changes
    nothing)."""
    directive = get_directive(principal, directive_id)
    row = _read_row(principal, directive)
    if row is None:
        row = DirectiveRead(directive_id=directive.id, account_id=principal.account_id,
                            member_id=principal.member_id, read_at=utcnow())
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # the same account, in another tab, a moment earlier
            row = _read_row(principal, directive)
            assert row is not None
    return Entry(directive, row.read_at, row.completed_at)


def complete(principal: Principal, directive_id: int) -> Entry:
    """Mark a study item, or a directive with a deadline, completed (read as well)."""
    directive = get_directive(principal, directive_id)
    if not directive.completable:
        raise Conflict("This directive has nothing to complete.")
    record_read(principal, directive_id)
    row = _read_row(principal, directive)
    assert row is not None
    if row.completed_at is None:
        row.completed_at = utcnow()
        db.session.flush()
    return Entry(directive, row.read_at, row.completed_at)


# --- counts -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Counts:
    targeted: int
    read: int
    completed: int


def _on_rolls(prefixes: list[str] | None) -> list[sa.ColumnElement[bool]]:
    where = [Member.status.not_in(GONE)]
    if prefixes is not None:
        where.append(within(Member.org_code, prefixes))
    return where


def _secretary_accounts(prefixes: list[str] | None) -> sa.Select[tuple[int]]:
    grants = sa.select(Grant.account_id).where(Grant.role.in_(SECRETARY_ROLES))
    if prefixes is not None:
        grants = grants.where(within(Grant.org_code, prefixes))
    return sa.select(Account.id).where(Account.is_active.is_(True), Account.id.in_(grants))


def counts_of(directives: Iterable[Directive], prefixes: list[str] | None = None
              ) -> dict[int, Counts]:
    """Counts per directive id: of the whole tenant (`prefixes` None) or of these subtrees.

    Only people currently targeted are counted, so completed <= read <= targeted.
    """
    directives = list(directives)
    result: dict[int, Counts] = {}
    session = db.session
    for audience in Audience:
        ids = [d.id for d in directives if d.audience == audience]
        if not ids:
            continue
        completed = sa.func.sum(sa.case((DirectiveRead.completed_at.is_not(None), 1), else_=0))
        if audience == Audience.all:
            targeted = session.scalar(sa.select(sa.func.count(Member.id))
                                      .where(*_on_rolls(prefixes))) or 0
            reads = (sa.select(DirectiveRead.directive_id, sa.func.count(DirectiveRead.id),
                               completed)
                     .join(Member, Member.id == DirectiveRead.member_id)
                     .where(DirectiveRead.directive_id.in_(ids), *_on_rolls(prefixes)))
        else:
            accounts = _secretary_accounts(prefixes)
            targeted = session.scalar(sa.select(sa.func.count()).select_from(
                accounts.subquery())) or 0
            reads = (sa.select(DirectiveRead.directive_id, sa.func.count(DirectiveRead.id),
                               completed)
                     .where(DirectiveRead.directive_id.in_(ids),
                            DirectiveRead.account_id.in_(accounts)))
        found = {directive_id: (int(read), int(done or 0)) for directive_id, read, done
                 in session.execute(reads.group_by(DirectiveRead.directive_id))}
        for directive_id in ids:
            read, done = found.get(directive_id, (0, 0))
            result[directive_id] = Counts(targeted, read, done)
    return result


def may_see_counts(principal: Principal) -> bool:
    return bool(principal.prefixes(Role.org_viewer))


def counts_for(principal: Principal, directive_id: int) -> Counts:
    """The counts of the principal's subtrees (console users only: others get 403)."""
    directive = get_directive(principal, directive_id)
    if not may_see_counts(principal):
        raise Forbidden("Read and completion counts are for secretaries and administrators.")
    return counts_of([directive], principal.prefixes(Role.org_viewer))[directive.id]


def scoped_counts(principal: Principal, entries: Sequence[Entry]) -> dict[int, Counts]:
    """Counts of the principal's subtrees for a list page (empty for plain members)."""
    if not may_see_counts(principal):
        return {}
    return counts_of([e.directive for e in entries], principal.prefixes(Role.org_viewer))


# --- from the hub -------------------------------------------------------------------------------


def apply_published(data: dict[str, Any]) -> list[Directive]:
    """Handler body of `partynet.directive.published.v1` (in the consumer's transaction): one
    copy per targeted tenant. Idempotent: a repeat rewrites the same values; a withdrawn copy
    stays withdrawn. A tenant this node does not host makes the handler fail (quarantine)."""
    stored = []
    for slug in data["tenants"]:
        tenant = get_tenant_by_slug(slug)
        with tenant_context(tenant.id):
            directive = db.session.scalar(sa.select(Directive).where(
                Directive.hub_id == data["directive_id"]))
            if directive is None:
                directive = Directive(hub_id=data["directive_id"], received_at=utcnow())
                db.session.add(directive)
            elif directive.withdrawn_at is not None:
                continue
            directive.kind = DirectiveKind(data["kind"])
            directive.title, directive.body = data["title"], data["body"]
            directive.links = [dict(link) for link in data["links"]]
            directive.priority = Priority(data["priority"])
            directive.pinned = data["pinned"]
            directive.deadline = parse_time(data["deadline"]) if data["deadline"] else None
            directive.audience = Audience(data["audience"])
            directive.published_at = parse_time(data["published_at"])
            db.session.flush()
            stored.append(directive)
    return stored


def apply_withdrawn(data: dict[str, Any]) -> int:
    """Handler body of `partynet.directive.withdrawn.v1`: hide every tenant's copy (a repeat,
    or a directive never received, changes nothing). Returns the copies withdrawn now."""
    with all_tenants():
        done = db.session.execute(
            sa.update(Directive)
            .where(Directive.hub_id == data["directive_id"], Directive.withdrawn_at.is_(None))
            .values(withdrawn_at=parse_time(data["withdrawn_at"])))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


# --- to the hub ---------------------------------------------------------------------------------


def report(tenant: Tenant, *, force: bool = False, now: dt.datetime | None = None
           ) -> list[str]:
    """Queue a receipt for each live directive of the tenant whose counts changed since the
    last one (every live one with `force`), in the caller's transaction; the message ids."""
    as_of = format_time(now or utcnow())
    ids = []
    with tenant_context(tenant.id):
        directives = db.session.scalars(sa.select(Directive).where(
            Directive.withdrawn_at.is_(None)).order_by(Directive.id)).all()
        all_counts = counts_of(directives)
        for directive in directives:
            counts = all_counts[directive.id]
            last = (directive.reported_targeted, directive.reported_read,
                    directive.reported_completed)
            if not force and last == (counts.targeted, counts.read, counts.completed):
                continue
            ids.append(send(db.session(), RECEIPT, destination=HUB, tenant=tenant.slug,
                            data={"directive_id": directive.hub_id,
                                  "targeted": counts.targeted, "read": counts.read,
                                  "completed": counts.completed, "as_of": as_of}))
            directive.reported_targeted = counts.targeted
            directive.reported_read = counts.read
            directive.reported_completed = counts.completed
            directive.reported_at = parse_time(as_of)
        db.session.flush()
    return ids


def tenants_to_report(slug: str | None = None) -> Sequence[Tenant]:
    return [get_tenant_by_slug(slug)] if slug else list_tenants()


# --- the members' monthly reports (node/reports) ------------------------------------------------


def received_for_all(start: dt.datetime, end: dt.datetime) -> int:
    """Directives and study items for everyone the tenant received in [start, end)."""
    return db.session.scalar(sa.select(sa.func.count(Directive.id)).where(
        Directive.audience == Audience.all, Directive.received_at >= start,
        Directive.received_at < end)) or 0


def reads_by_member(members: sa.Select[Any], start: dt.datetime, end: dt.datetime
                    ) -> dict[int, tuple[int, int]]:
    """Per member (`members`: a SELECT of member ids): directives first opened and those
    completed in [start, end). One GROUP BY however many members."""
    read = sa.func.sum(sa.case((sa.and_(DirectiveRead.read_at >= start,
                                        DirectiveRead.read_at < end), 1), else_=0))
    done = sa.func.sum(sa.case((sa.and_(DirectiveRead.completed_at >= start,
                                        DirectiveRead.completed_at < end), 1), else_=0))
    return {member_id: (int(r or 0), int(c or 0)) for member_id, r, c in db.session.execute(
        sa.select(DirectiveRead.member_id, read, done)
        .where(DirectiveRead.member_id.in_(members),
               sa.or_(sa.and_(DirectiveRead.read_at >= start, DirectiveRead.read_at < end),
                      sa.and_(DirectiveRead.completed_at >= start,
                              DirectiveRead.completed_at < end)))
        .group_by(DirectiveRead.member_id))}
