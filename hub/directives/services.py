"""Directives and study items: writing, publishing to the targeted tenants, withdrawing,
receiving the nodes' read-back and rolling it up per node and per region.

- A directive is written as a **draft** and can be edited until it is published; a published
  one can only be withdrawn (a withdrawal is final: publish a corrected directive instead).
- **Publishing** resolves the target once: every tenant of every active node (`all`), the
  tenants whose 6-digit region code starts with a prefix (`region`), or listed tenants
  (`tenants`, named `<node id>/<tenant slug>`). It records one `DirectiveTarget` per tenant
  and queues **one** sequenced `partynet.directive.published.v1` per node naming its targeted
  tenants, all in the caller's transaction: the directive is published exactly when its
  messages are on their way.
- **Receipts** (`partynet.directive.receipt.v1`) are totals per (directive, tenant): the one
  with the latest `as_of` wins, so duplicates and late arrivals are harmless. A receipt for a
  directive or a tenant that was not targeted is refused (quarantine, `handler_failed`).
- Completion is a `SUM` of the latest receipts, per node or per region prefix (2 digits: a
  province, 4: a city, 6: a county), seen by administrators and auditors everywhere and by a
  region viewer for the tenants under its code prefix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import format_time, parse_time, utcnow
from federation.messages.directives import PUBLISHED, WITHDRAWN, Link
from hub.auth.principal import HubPrincipal
from hub.db import db
from hub.directives.models import (
    Audience,
    Directive,
    DirectiveKind,
    DirectiveStatus,
    DirectiveTarget,
    Priority,
    TargetKind,
)
from hub.nodes.models import Node, NodeStatus, NodeTenant
from shared.errors import Conflict, DomainError, InvalidInput, NotFound

#: `<node id>/<tenant slug>`: how a listed tenant is named.
TENANT_REF = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,127})/([a-z][a-z0-9-]{1,39})")
REGION_PREFIX = re.compile(r"[0-9]{1,6}")
#: Deadlines given as a day end on that day, China Standard Time (UTC+8).
CHINA = dt.timezone(dt.timedelta(hours=8))
#: Region roll-up levels: digits of the region code.
LEVELS = (2, 4, 6)
BODY_MAX = 65_536
LINKS_MAX = 20
EDITABLE = ("kind", "title", "body", "links", "priority", "pinned", "deadline", "audience",
            "target_kind", "target_region", "target_tenants")


class DirectiveRefused(DomainError):
    """A node's message about a directive that cannot be applied (the bus quarantines it)."""

    status = 422
    code = "directive-refused"
    title = "Directive message refused"


# --- writing ----------------------------------------------------------------------------------


def parse_deadline(text: str | None) -> dt.datetime | None:
    """`2025-03-31` (the end of that day, UTC+8) or an ISO time (UTC+8 unless it says)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), CHINA).astimezone(dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("A deadline is a day (2025-03-31) or a time with its offset.",
                           errors={"deadline": ["Not a date."]}) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA)
    return value.astimezone(dt.UTC)



def _check(data: dict[str, Any], now: dt.datetime) -> None:
    """Every rule on the fields, one InvalidInput naming each wrong field (nothing changes)."""
    errors: dict[str, list[str]] = {}
    title = (data.get("title") or "").strip()
    if not title or len(title) > 200:
        errors["title"] = ["Required, at most 200 characters."]
    if len(data.get("body") or "") > BODY_MAX:
        errors["body"] = [f"At most {BODY_MAX} characters."]
    links = data.get("links") or []
    if len(links) > LINKS_MAX:
        errors["links"] = [f"At most {LINKS_MAX} links."]
    for link in links:
        try:
            Link().load(link)
        except ValidationError:
            errors["links"] = ["Each link needs a title and an http(s) URL."]
    deadline = data.get("deadline")
    if deadline is not None and deadline <= now:
        errors["deadline"] = ["The deadline has passed."]
    target = TargetKind(data.get("target_kind") or TargetKind.all)
    if target == TargetKind.region:
        if REGION_PREFIX.fullmatch(data.get("target_region") or "") is None:
            errors["target_region"] = ["A region code prefix: 1 to 6 digits."]
    elif target == TargetKind.tenants:
        refs = data.get("target_tenants") or []
        if not refs:
            errors["target_tenants"] = ["Name at least one tenant."]
        elif len(refs) > 1000 or any(TENANT_REF.fullmatch(r) is None for r in refs):
            errors["target_tenants"] = ["Name tenants as <node id>/<tenant slug>."]
        else:
            unknown = [r for r in refs if _tenant_by_ref(r) is None]
            if unknown:
                errors["target_tenants"] = [f"Unknown tenant: {', '.join(unknown[:5])}."]
    if errors:
        raise InvalidInput("The directive is not valid.", errors=errors)


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data[name] for name in EDITABLE if name in data}
    if "title" in values:
        values["title"] = values["title"].strip()
    if values.get("deadline") is not None:
        values["deadline"] = values["deadline"].astimezone(dt.UTC)
    if "links" in values:
        values["links"] = [{"title": link["title"], "url": link["url"]}
                           for link in values["links"] or []]
    target = values.get("target_kind")
    if target is not None:
        if target != TargetKind.region:
            values["target_region"] = None
        if target != TargetKind.tenants:
            values["target_tenants"] = []
        else:
            values["target_tenants"] = sorted(set(values.get("target_tenants") or []))
    return values


def create_directive(data: dict[str, Any], *, by: str,
                     now: dt.datetime | None = None) -> Directive:
    """A new draft."""
    now = now or utcnow()
    data = {"kind": DirectiveKind.directive, "priority": Priority.normal, "pinned": False,
            "audience": Audience.all, "target_kind": TargetKind.all, "body": "", "links": [],
            **{k: v for k, v in data.items() if v is not None}}
    _check(data, now)
    directive = Directive(**_normalised(data), status=DirectiveStatus.draft,
                          created_by=by[:120], created_at=now, updated_at=now)
    db.session.add(directive)
    db.session.flush()
    return directive


def update_directive(directive: Directive, data: dict[str, Any], *,
                     now: dt.datetime | None = None) -> Directive:
    """Edit a draft (a published directive is final: withdraw it and write another)."""
    if directive.status != DirectiveStatus.draft:
        raise Conflict("Only a draft can be edited.")
    now = now or utcnow()
    merged = {name: getattr(directive, name) for name in EDITABLE}
    merged.update({k: v for k, v in data.items() if k in EDITABLE
                   and (v is not None or k in ("deadline", "target_region"))})
    _check(merged, now)
    for name, value in _normalised(merged).items():
        setattr(directive, name, value)
    directive.updated_at = now
    db.session.flush()
    return directive


def get_directive(directive_id: int) -> Directive:
    directive = db.session.get(Directive, directive_id)
    if directive is None:
        raise NotFound(f"No directive {directive_id}.")
    return directive


def readable(principal: HubPrincipal, directive_id: int) -> Directive:
    """A directive the principal may read: drafts are for administrators and auditors only."""
    directive = get_directive(directive_id)
    if directive.status == DirectiveStatus.draft and not principal.reads_everything:
        raise NotFound(f"No directive {directive_id}.")
    return directive


def list_directives(principal: HubPrincipal, *, status: DirectiveStatus | None = None,
                    before_id: int | None = None, limit: int = 50) -> Sequence[Directive]:
    """Newest first; region viewers do not see drafts."""
    query = sa.select(Directive)
    if status is not None:
        query = query.where(Directive.status == status)
    if not principal.reads_everything:
        query = query.where(Directive.status != DirectiveStatus.draft)
    if before_id is not None:
        query = query.where(Directive.id < before_id)
    return db.session.scalars(query.order_by(Directive.id.desc()).limit(limit)).all()


# --- publishing -------------------------------------------------------------------------------


def _tenant_by_ref(ref: str) -> NodeTenant | None:
    match = TENANT_REF.fullmatch(ref)
    if match is None:
        return None
    return db.session.scalar(sa.select(NodeTenant).join(Node, Node.id == NodeTenant.node_id)
                             .where(NodeTenant.node_id == match.group(1),
                                    NodeTenant.slug == match.group(2),
                                    Node.status == NodeStatus.active))


def resolve_targets(directive: Directive) -> list[NodeTenant]:
    """The tenants the directive's target names now, of active nodes only."""
    query = (sa.select(NodeTenant).join(Node, Node.id == NodeTenant.node_id)
             .where(Node.status == NodeStatus.active))
    if directive.target_kind == TargetKind.region:
        query = query.where(NodeTenant.region.startswith(directive.target_region or "",
                                                         autoescape=True))
    elif directive.target_kind == TargetKind.tenants:
        refs = [TENANT_REF.fullmatch(r) for r in directive.target_tenants]
        pairs = [(m.group(1), m.group(2)) for m in refs if m is not None]
        if not pairs:
            return []
        query = query.where(sa.tuple_(NodeTenant.node_id, NodeTenant.slug).in_(pairs))
    return list(db.session.scalars(query.order_by(NodeTenant.node_id, NodeTenant.slug)))


def published_data(directive: Directive, tenants: list[str]) -> dict[str, Any]:
    assert directive.published_at is not None
    return {"directive_id": directive.id, "kind": str(directive.kind),
            "title": directive.title, "body": directive.body,
            "links": [dict(link) for link in directive.links],
            "priority": str(directive.priority), "pinned": directive.pinned,
            "deadline": format_time(directive.deadline) if directive.deadline else None,
            "published_at": format_time(directive.published_at),
            "audience": str(directive.audience), "tenants": tenants}


def publish(directive: Directive, *, by: str, now: dt.datetime | None = None) -> list[str]:
    """Send a draft to its targeted tenants: one sequenced message per node, in the caller's
    transaction. Returns the message ids."""
    if directive.status != DirectiveStatus.draft:
        raise Conflict("Only a draft can be published.")
    now = now or utcnow()
    _check({name: getattr(directive, name) for name in EDITABLE}, now)
    tenants = resolve_targets(directive)
    if not tenants:
        raise InvalidInput("The target matches no tenant of an active node.",
                           errors={"target": ["No tenant."]})
    directive.status = DirectiveStatus.published
    directive.published_at, directive.published_by = now, by[:120]
    by_node: dict[str, list[str]] = {}
    for tenant in tenants:
        db.session.add(DirectiveTarget(directive_id=directive.id, node_tenant_id=tenant.id,
                                       node_id=tenant.node_id, tenant=tenant.slug,
                                       region=tenant.region, code_prefix=tenant.code_prefix))
        by_node.setdefault(tenant.node_id, []).append(tenant.slug)
    db.session.flush()
    return [send(db.session(), PUBLISHED, destination=node_id, sequenced=True,
                 data=published_data(directive, slugs))
            for node_id, slugs in sorted(by_node.items())]


def withdraw(directive: Directive, *, by: str, now: dt.datetime | None = None) -> list[str]:
    """Withdraw a published directive from every node it was sent to (a draft is simply
    never published)."""
    if directive.status != DirectiveStatus.published:
        raise Conflict("Only a published directive can be withdrawn.")
    now = now or utcnow()
    directive.status = DirectiveStatus.withdrawn
    directive.withdrawn_at, directive.withdrawn_by = now, by[:120]
    db.session.flush()
    nodes = db.session.scalars(sa.select(DirectiveTarget.node_id).distinct().where(
        DirectiveTarget.directive_id == directive.id).order_by(DirectiveTarget.node_id)).all()
    return [send(db.session(), WITHDRAWN, destination=node_id, sequenced=True,
                 data={"directive_id": directive.id, "withdrawn_at": format_time(now)})
            for node_id in nodes]


# --- receipts -----------------------------------------------------------------------------------


def apply_receipt(envelope: Envelope) -> DirectiveTarget:
    """Handler of partynet.directive.receipt.v1: the latest `as_of` per (directive, tenant)
    wins; an equal or older one changes nothing."""
    data = envelope.data
    if envelope.tenant is None:
        raise DirectiveRefused("a directive receipt must name its tenant")
    target = db.session.scalar(
        sa.select(DirectiveTarget).join(NodeTenant, NodeTenant.id == DirectiveTarget.node_tenant_id)
        .where(DirectiveTarget.directive_id == data["directive_id"],
               NodeTenant.node_id == envelope.source, NodeTenant.slug == envelope.tenant))
    if target is None:
        raise DirectiveRefused(f"directive {data['directive_id']} was not sent to "
                               f"{envelope.source}/{envelope.tenant}")
    as_of = parse_time(data["as_of"])
    if target.as_of is not None and as_of <= target.as_of:
        return target
    target.targeted, target.read, target.completed = (data["targeted"], data["read"],
                                                      data["completed"])
    target.as_of, target.received_at = as_of, utcnow()
    db.session.flush()
    return target


# --- completion ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Completion:
    """Summed latest receipts of a group of tenants (`key`: a node id, a region prefix, or
    `node/tenant`)."""

    key: str
    tenants: int
    reported: int
    targeted: int
    read: int
    completed: int

    @property
    def read_rate(self) -> float | None:
        return self.read / self.targeted if self.targeted else None

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.targeted if self.targeted else None


def _reach(principal: HubPrincipal) -> list[sa.ColumnElement[bool]]:
    if principal.reads_everything:
        return []
    if principal.region_prefix is None:
        return [sa.false()]
    return [DirectiveTarget.code_prefix.startswith(principal.region_prefix, autoescape=True)]


def _sums() -> list[Any]:
    return [sa.func.count(DirectiveTarget.id), sa.func.count(DirectiveTarget.as_of),
            sa.func.coalesce(sa.func.sum(DirectiveTarget.targeted), 0),
            sa.func.coalesce(sa.func.sum(DirectiveTarget.read), 0),
            sa.func.coalesce(sa.func.sum(DirectiveTarget.completed), 0)]


def _grouped(principal: HubPrincipal, directive: Directive,
             key: sa.ColumnElement[str]) -> list[Completion]:
    query = (sa.select(key, *_sums()).where(DirectiveTarget.directive_id == directive.id,
                                            *_reach(principal))
             .group_by(key).order_by(key))
    return [Completion(str(k), int(t), int(r), int(tg), int(rd), int(c))
            for k, t, r, tg, rd, c in db.session.execute(query)]


def completion_by_node(principal: HubPrincipal, directive: Directive) -> list[Completion]:
    return _grouped(principal, directive, DirectiveTarget.node_id)


def completion_by_region(principal: HubPrincipal, directive: Directive,
                         digits: int = 2) -> list[Completion]:
    """Rolled up by the first `digits` of the tenants' region codes (2, 4 or 6)."""
    if digits not in LEVELS:
        raise InvalidInput("A region level is 2, 4 or 6 digits.", errors={"level": ["2, 4, 6."]})
    return _grouped(principal, directive, sa.func.substr(DirectiveTarget.region, 1, digits))


def completion_total(principal: HubPrincipal, directive: Directive) -> Completion:
    row = db.session.execute(sa.select(*_sums()).where(
        DirectiveTarget.directive_id == directive.id, *_reach(principal))).one()
    return Completion("", *(int(v) for v in row))


def targets(principal: HubPrincipal, directive: Directive) -> Sequence[DirectiveTarget]:
    """Every targeted tenant the principal may see, with its latest counts (the CSV rows)."""
    return db.session.scalars(sa.select(DirectiveTarget).where(
        DirectiveTarget.directive_id == directive.id, *_reach(principal))
        .order_by(DirectiveTarget.region, DirectiveTarget.node_id, DirectiveTarget.tenant)).all()


CSV_HEADER = ["region", "node", "tenant", "code_prefix", "targeted", "read", "completed",
              "read_rate", "completion_rate", "as_of"]


def csv_rows(principal: HubPrincipal, directive: Directive) -> list[list[Any]]:
    """One row per targeted tenant; empty counts where no receipt came yet."""
    rows: list[list[Any]] = [CSV_HEADER]
    for t in targets(principal, directive):
        rates = [f"{t.read / t.targeted:.4f}" if t.targeted else None,
                 f"{(t.completed or 0) / t.targeted:.4f}" if t.targeted else None]
        rows.append([t.region, t.node_id, t.tenant, t.code_prefix, t.targeted, t.read,
                     t.completed, *rates, format_time(t.as_of) if t.as_of else None])
    return rows
