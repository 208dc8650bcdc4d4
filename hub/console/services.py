"""What the console shows and does beyond the nodes' and feed's own services: the network at a
glance, a node's whole record, and the quarantine (read, release, discard).

Release and discard go through the hub's consumer (`Consumer.release`/`discard`), exactly as
`partynet hub bus quarantine` does: a released message is checked again and received as
usual, so it is still applied at most once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from federation.delivery.consumer import Consumer, Outcome
from federation.delivery.models import KnownKey, QuarantinedMessage
from federation.delivery.quarantine import HELD, counts, get_held, held
from federation.delivery.stats import DeliveryStats
from federation.keys import utcnow
from hub.bus import services as bus
from hub.console.schemas import QUARANTINE_STATES
from hub.db import db
from hub.nodes import services as nodes
from hub.nodes.models import EnrollmentToken, Node, NodeStatus, NodeTenant
from hub.settings import HubSettings
from shared.errors import InvalidInput, NotFound


@dataclasses.dataclass(frozen=True)
class Overview:
    """The console's home: what needs attention first."""

    nodes: dict[str, int]
    silent: Sequence[Node]
    quarantined: dict[str, int]
    unused_tokens: int
    delivery: DeliveryStats


def overview(settings: HubSettings, now: dt.datetime | None = None) -> Overview:
    now = now or utcnow()
    unused = db.session.scalar(sa.select(sa.func.count()).select_from(EnrollmentToken).where(
        EnrollmentToken.used_at.is_(None), EnrollmentToken.revoked_at.is_(None),
        EnrollmentToken.expires_at > now)) or 0
    return Overview(nodes=nodes.count_nodes(),
                    silent=nodes.silent_nodes(silent_after(settings), now),
                    quarantined=counts(db.session()), unused_tokens=unused,
                    delivery=bus.stats(now))


def silent_after(settings: HubSettings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.silent_after)


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    node: Node
    tenants: Sequence[NodeTenant]
    keys: Sequence[KnownKey]
    silent: bool


def node_rows(settings: HubSettings, *, status: NodeStatus | None = None,
              now: dt.datetime | None = None) -> list[NodeRecord]:
    """Every node with its tenants and whether it is silent (keys only on its own page)."""
    after = silent_after(settings)
    rows = nodes.list_nodes(status=status)
    tenants: dict[str, list[NodeTenant]] = {}
    for tenant in db.session.scalars(sa.select(NodeTenant).order_by(NodeTenant.slug)):
        tenants.setdefault(tenant.node_id, []).append(tenant)
    return [NodeRecord(node, tenants.get(node.id, []), (), nodes.is_silent(node, after, now))
            for node in rows]


def node_record(settings: HubSettings, node_id: str,
                now: dt.datetime | None = None) -> NodeRecord:
    node = nodes.get_node(node_id)
    return NodeRecord(node, nodes.node_tenants(node_id), nodes.node_keys(node_id),
                      nodes.is_silent(node, silent_after(settings), now))


# --- quarantine -------------------------------------------------------------------------------

def list_quarantine(*, status: str | None = HELD, reason: str | None = None,
                    source: str | None = None, after_id: int = 0,
                    limit: int = 50) -> Sequence[QuarantinedMessage]:
    if status is not None and status not in QUARANTINE_STATES:
        raise InvalidInput("Unknown state.", errors={"status": [
            f"One of: {', '.join(QUARANTINE_STATES)}."]})
    return held(db.session(), status=status, reason=reason, source=source, limit=limit,
                after_id=after_id)


def get_quarantined(entry_id: int) -> QuarantinedMessage:
    entry = db.session.get(QuarantinedMessage, entry_id)
    if entry is None:
        raise NotFound("No such quarantined message.")
    return entry


def _consumer(settings: HubSettings) -> Consumer:
    return Consumer(bus.hub_party(settings))


def release(settings: HubSettings, entry_id: int, *, by: str, note: str = "") -> Outcome:
    """Check the message again (without the clock window) and receive it, in the caller's
    transaction; `Conflict` (nothing changed) when it is still refused or already resolved.
    The consumer reads the keys in this unit of work, so SQLite's one write lock is no issue."""
    return _consumer(settings).release(entry_id, by=by, note=note[:1000])


def discard(settings: HubSettings, entry_id: int, *, by: str, note: str = "") -> None:
    get_held(db.session(), entry_id)
    _consumer(settings).discard(entry_id, by=by, note=note[:1000])


def body_text(entry: QuarantinedMessage, limit: int = 20000) -> str:
    """The message as received, for reading (it may not be UTF-8, or not even JSON)."""
    return entry.body[:limit].decode("utf-8", errors="replace")
