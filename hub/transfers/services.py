"""Routing transfers between nodes, by their metadata only, and the national view of them.

A node sends each step of a cross-node transfer to the hub (`partynet.transfer.step.v1`): the
metadata in clear, the step itself in the origin's signed inner envelope with the body sealed
for the destination node (`federation.sealed`). The hub checks that the inner envelope is the
source's own and says what the metadata says, refuses what it must (unknown or revoked
destination, a letter for a person already on the destination node's rolls per the identity
index) with `partynet.transfer.undeliverable.v1` back to the sender, records the metadata in
`hub_transfers` and forwards the inner envelope unchanged (`partynet.transfer.routed.v1`), in
the consumer's transaction: the refusal or the forward commits with the message's receipt.

The tenant directory (`partynet.tenants.directory.v1`: active nodes, their keys, their tenants)
goes to every active node whenever the registry's version moved past the one last sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.delivery.models import KnownKey
from federation.envelope import Envelope
from federation.keys import encode_base64, format_time, parse_time, utcnow
from federation.messages.transfers import DIRECTORY, OUT_STEPS, ROUTED, SEALED, UNDELIVERABLE
from hub.db import db
from hub.identity.models import IdentityEntry
from hub.keys.services import directory_version
from hub.nodes import routing
from hub.nodes.models import Node, NodeStatus, NodeTenant
from hub.transfers.models import HubTransfer, TenantDirectoryState
from shared.errors import DomainError

#: Transfers not closed, cancelled: someone still has to act.
IN_FLIGHT = ("issued", "rejected", "claimed", "released", "refused", "undeliverable")
#: States in which a passed validity means the letter can no longer be received.
EXPIRABLE = ("issued", "rejected", "claimed", "refused", "undeliverable")
#: In flight without any step for this long: overdue (someone is sitting on it).
OVERDUE_AFTER = dt.timedelta(days=14)
STATES = (*IN_FLIGHT, "closed", "cancelled")

#: The hub's record of a step: state after it, and its rank within one attempt (a step of a
#: lower rank arriving late, e.g. reordered across two streams, does not undo a later one).
_STATE = {"letter": "issued", "rejected": "rejected", "claim": "claimed", "released": "released",
          "refused": "refused", "receipt": "closed", "cancelled": "cancelled",
          "undeliverable": "undeliverable"}
_RANK = {"letter": 1, "undeliverable": 2, "rejected": 2, "claim": 2, "refused": 3,
         "released": 3, "receipt": 4, "cancelled": 4}
_FINAL = ("closed", "cancelled")
_DIRECTORY_STATE_ID = 1
#: The metadata the origin signed with the step (and the hub routes and records by).
SIGNED_META = ("uid", "step", "attempt", "from_tenant", "to_tenant")


class TransferRefused(DomainError):
    """A step the hub cannot take at all (not a routing refusal: a lie or a bug at the
    sender): the consumer quarantines it as handler_failed."""

    status = 422
    code = "transfer-step-refused"
    title = "Transfer step refused"


# --- routing ---------------------------------------------------------------------------------


def apply_step(envelope: Envelope, *, now: dt.datetime | None = None) -> str:
    """Route one step; returns "routed" or the undeliverable reason code."""
    now = now or utcnow()
    data = envelope.data
    try:  # the hub's records cannot be fooled by a node about a step
        routing.check_step(envelope, now, inner_type=SEALED, signed_meta=SIGNED_META)
    except routing.InnerMismatch as error:
        raise TransferRefused(str(error)) from None
    row = _record(data, now)
    reason, detail = _refusal(data)
    if reason is not None:
        _apply_to_row(row, "undeliverable", data["attempt"], data, now, refusal=reason)
        send(db.session(), UNDELIVERABLE, destination=envelope.source, tenant=envelope.tenant,
             data={"uid": data["uid"], "step": data["step"], "attempt": data["attempt"],
                   "from_tenant": data["from_tenant"],
                   "to_node": data["to_node"] if reason != "unknown_tenant" else None,
                   "to_tenant": data["to_tenant"], "reason_code": reason,
                   "detail": detail[:500]})
        return reason
    _apply_to_row(row, data["step"], data["attempt"], data, now)
    send(db.session(), ROUTED, destination=data["to_node"], tenant=data["to_tenant"],
         data={"uid": data["uid"], "step": data["step"], "attempt": data["attempt"],
               "from_node": data["from_node"], "from_tenant": data["from_tenant"],
               "to_tenant": data["to_tenant"], "signed": data["signed"]})
    return "routed"


def _refusal(data: dict[str, Any]) -> tuple[str | None, str]:
    reason, detail = routing.destination_refusal(data["to_node"], data["to_tenant"])
    if reason is not None:
        return reason, detail
    if data["step"] == "letter" and data["identity_hash"] is not None and _active_on_node(
            data["identity_hash"], data["to_node"]):
        return "already_active", (f"the person is already on the rolls of a tenant of "
                                  f"{data['to_node']}")
    return None, ""


def _active_on_node(digest: str, node_id: str) -> bool:
    """Whether the keyed hash is on the rolls of any tenant of `node_id` (identity index)."""
    return db.session.scalar(sa.select(sa.literal(True)).select_from(IdentityEntry).join(
        NodeTenant, NodeTenant.id == IdentityEntry.node_tenant_id).where(
        IdentityEntry.hash == digest, IdentityEntry.active.is_(True),
        NodeTenant.node_id == node_id).limit(1)) is not None


def _record(data: dict[str, Any], now: dt.datetime) -> HubTransfer:
    """The transfer's row, made on its first step; a step naming other parties than the row
    is refused (a node cannot write over another node's transfer)."""
    session = db.session()
    if data["step"] in OUT_STEPS:
        origin = (data["from_node"], data["from_tenant"])
        destination = (data["to_node"], data["to_tenant"])
    else:
        origin = (data["to_node"], data["to_tenant"])
        destination = (data["from_node"], data["from_tenant"])
    row = session.scalars(sa.select(HubTransfer).where(HubTransfer.uid == data["uid"])
                          .with_for_update()).first()
    if row is not None:
        if ((row.origin_node, row.origin_tenant) != origin
                or (row.destination_node, row.destination_tenant) != destination):
            raise TransferRefused(f"transfer {data['uid']} is between other parties")
        return row
    regions = {(t.node_id, t.slug): t.region for t in session.scalars(
        sa.select(NodeTenant).where(sa.tuple_(NodeTenant.node_id, NodeTenant.slug).in_(
            [origin, destination])))}
    row = HubTransfer(uid=data["uid"], origin_node=origin[0], origin_tenant=origin[1],
                      origin_region=regions.get(origin), destination_node=destination[0],
                      destination_tenant=destination[1],
                      destination_region=regions.get(destination), attempt=data["attempt"],
                      state=_STATE[data["step"]], last_step=data["step"], last_step_at=now,
                      steps=0, created_at=now)
    session.add(row)
    return row


def _apply_to_row(row: HubTransfer, step: str, attempt: int, data: dict[str, Any],
                  now: dt.datetime, *, refusal: str | None = None) -> None:
    row.steps = (row.steps or 0) + 1
    newer = attempt > row.attempt
    same = attempt == row.attempt and (row.steps == 1 or _RANK[step] >= _RANK[row.last_step])
    if row.state in _FINAL and not newer:
        return
    if not (newer or same):
        return  # a stale step: routed all the same (the destination ignores it), not recorded
    row.attempt, row.state, row.last_step, row.last_step_at = attempt, _STATE[step], step, now
    row.refusal = refusal
    if step == "letter" or (step == "undeliverable" and data["step"] == "letter"):
        row.issued_at = now
        row.valid_until = parse_time(data["valid_until"]) if data["valid_until"] else None
        row.to_org_code = data["to_org_code"]
    db.session.flush()


# --- the national view -----------------------------------------------------------------------


def _expired(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(HubTransfer.state.in_(EXPIRABLE), HubTransfer.valid_until.is_not(None),
                   HubTransfer.valid_until <= now)


def _overdue(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(HubTransfer.state.in_(IN_FLIGHT), sa.not_(_expired(now)),
                   HubTransfer.last_step_at <= now - OVERDUE_AFTER)


@dataclasses.dataclass
class RegionCounts:
    region: str
    outgoing: int = 0
    incoming: int = 0
    overdue: int = 0
    expired: int = 0


@dataclasses.dataclass
class Summary:
    in_flight: int
    overdue: int
    expired: int
    closed: int
    regions: list[RegionCounts]


def _count(flag: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((flag, 1), else_=0)), 0)


def summary(now: dt.datetime | None = None) -> Summary:
    """Counts nationwide and per region (overdue and expired are the sending region's: the
    origin stays responsible until the member is received)."""
    now = now or utcnow()
    session = db.session()
    in_flight = HubTransfer.state.in_(IN_FLIGHT)
    regions: dict[str, RegionCounts] = {}
    for region, outgoing, overdue, expired in session.execute(
            sa.select(HubTransfer.origin_region, _count(in_flight), _count(_overdue(now)),
                      _count(_expired(now))).group_by(HubTransfer.origin_region)):
        counts = regions.setdefault(region or "", RegionCounts(region or ""))
        counts.outgoing, counts.overdue, counts.expired = outgoing, overdue, expired
    for region, incoming in session.execute(
            sa.select(HubTransfer.destination_region, _count(in_flight))
            .group_by(HubTransfer.destination_region)):
        regions.setdefault(region or "", RegionCounts(region or "")).incoming = incoming
    totals = session.execute(sa.select(_count(in_flight), _count(_overdue(now)),
                                       _count(_expired(now)),
                                       _count(HubTransfer.state == "closed"))).one()
    listed = sorted((c for c in regions.values() if c.outgoing or c.incoming),
                    key=lambda c: c.region)
    return Summary(in_flight=totals[0], overdue=totals[1], expired=totals[2], closed=totals[3],
                   regions=listed)


def list_transfers(*, flag: str | None = None, state: str | None = None,
                   region: str | None = None, after: int | None = None, limit: int = 50,
                   now: dt.datetime | None = None) -> Sequence[HubTransfer]:
    """Transfers, newest first; `flag` in_flight | overdue | expired; `region` matches either
    side's region code, or every region under it when shorter than 6 digits."""
    now = now or utcnow()
    query = sa.select(HubTransfer).order_by(HubTransfer.id.desc()).limit(limit)
    if flag == "in_flight":
        query = query.where(HubTransfer.state.in_(IN_FLIGHT))
    elif flag == "overdue":
        query = query.where(_overdue(now))
    elif flag == "expired":
        query = query.where(_expired(now))
    if state:
        query = query.where(HubTransfer.state == state)
    if region:
        query = query.where(sa.or_(HubTransfer.origin_region.startswith(region, autoescape=True),
                                   HubTransfer.destination_region.startswith(
                                       region, autoescape=True)))
    if after is not None:
        query = query.where(HubTransfer.id < after)
    return db.session.scalars(query).all()


def flags_of(row: HubTransfer, now: dt.datetime | None = None) -> tuple[bool, bool]:
    """(overdue, expired) for one row, as the queries above count them."""
    now = now or utcnow()
    expired = (row.state in EXPIRABLE and row.valid_until is not None
               and row.valid_until <= now)
    overdue = row.state in IN_FLIGHT and not expired and row.last_step_at <= now - OVERDUE_AFTER
    return overdue, expired


# --- the tenant directory --------------------------------------------------------------------


def directory_data(version: int, now: dt.datetime) -> dict[str, Any]:
    """Active nodes with their current key, and their tenants."""
    session = db.session()
    active = list(session.scalars(sa.select(Node).where(Node.status == NodeStatus.active)
                                  .order_by(Node.id)))
    nodes: list[dict[str, Any]] = []
    for node in active:
        key = session.scalars(sa.select(KnownKey).where(
            KnownKey.owner == node.id, KnownKey.revoked_at.is_(None),
            KnownKey.valid_from <= now, KnownKey.valid_until > now)
            .order_by(KnownKey.valid_from.desc(), KnownKey.key_id.desc())).first()
        if key is not None:
            nodes.append({"node": node.id, "key_id": key.key_id,
                          "public": encode_base64(key.public),
                          "valid_from": format_time(key.valid_from),
                          "valid_until": format_time(key.valid_until)})
    listed = {entry["node"] for entry in nodes}
    tenants = [{"node": t.node_id, "slug": t.slug, "name": t.name, "region": t.region,
                "code_prefix": t.code_prefix}
               for t in session.scalars(sa.select(NodeTenant).order_by(NodeTenant.node_id,
                                                                        NodeTenant.slug))
               if t.node_id in listed]
    return {"version": version, "issued_at": format_time(now), "nodes": nodes,
            "tenants": tenants}


def publish_directory(*, force: bool = False, now: dt.datetime | None = None) -> int:
    """Send the tenant directory to every active node if the registry changed since the last
    one (or `force`); returns how many nodes it was queued for. One at a time (row lock)."""
    session = db.session()
    now = now or utcnow()
    state = session.scalars(sa.select(TenantDirectoryState).where(
        TenantDirectoryState.id == _DIRECTORY_STATE_ID).with_for_update()).first()
    if state is None:
        state = TenantDirectoryState(id=_DIRECTORY_STATE_ID, version_sent=0)
        session.add(state)
        session.flush()
    version = directory_version()
    if version < 1 or (version <= state.version_sent and not force):
        return 0
    data = directory_data(version, now)
    for entry in data["nodes"]:
        send(session, DIRECTORY, destination=entry["node"], data=data)
    state.version_sent, state.sent_at = version, now
    session.flush()
    return len(data["nodes"])


def directory_sent() -> tuple[int, dt.datetime | None]:
    state = db.session.get(TenantDirectoryState, _DIRECTORY_STATE_ID)
    return (state.version_sent, state.sent_at) if state is not None else (0, None)






@dataclasses.dataclass
class TransferView:
    """One transfer as the API and the console show it."""

    uid: str
    origin: dict[str, str | None]
    destination: dict[str, str | None]
    to_org_code: str | None
    attempt: int
    state: str
    last_step: str
    last_step_at: dt.datetime
    issued_at: dt.datetime | None
    valid_until: dt.datetime | None
    refusal: str | None
    overdue: bool
    expired: bool
    id: int


def view(row: HubTransfer, now: dt.datetime | None = None) -> TransferView:
    overdue, expired = flags_of(row, now)
    return TransferView(
        uid=row.uid, id=row.id,
        origin={"node": row.origin_node, "tenant": row.origin_tenant,
                "region": row.origin_region},
        destination={"node": row.destination_node, "tenant": row.destination_tenant,
                     "region": row.destination_region},
        to_org_code=row.to_org_code, attempt=row.attempt, state=row.state,
        last_step=row.last_step, last_step_at=row.last_step_at, issued_at=row.issued_at,
        valid_until=row.valid_until, refusal=row.refusal, overdue=overdue, expired=expired)
