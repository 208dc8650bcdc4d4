"""The hub as a party on the federation bus: its key, its bus, its handlers, its health.

The hub takes messages from enrolled nodes. A message about a tenant must come from the node
that hosts it (`tenant_not_owned` otherwise); a revoked node is already refused by its keys.
Handlers for content, statistics and transfers are added by those features.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from federation.delivery import Party, Timing
from federation.delivery.stats import DeliveryStats, delivery_stats
from federation.envelope import Envelope, Rejected
from federation.keys import HUB, utcnow
from federation.messages.content import COUNTERS, PUBLISHED, WITHDRAWN
from federation.messages.directives import RECEIPT
from federation.messages.floating import STEP as FLOATING_STEP
from federation.messages.identity import INDEXED
from federation.messages.transfers import STEP as TRANSFER_STEP
from hub.db import db
from hub.directives import services as directive_services
from hub.feed import services as feed_services
from hub.floating import services as floating_services
from hub.identity import services as identity_services
from hub.keys.services import load_signing_key
from hub.nodes import services as nodes
from hub.settings import HubSettings
from hub.stats import services as stats_services
from hub.transfers import services as transfer_services

HEARTBEAT = "partynet.node.heartbeat.v1"
SNAPSHOT = "partynet.stats.snapshot.v1"
#: v1 plus organizational life and dues; both are accepted (protocol.md, "Message types").
SNAPSHOT_V2 = "partynet.stats.snapshot.v2"

#: The hub is the directory's author: the node keys it registered need no reconfirmation, so
#: its trust horizon is as long as they live (their own `valid_until` still applies).
TIMING = Timing(trust_horizon=dt.timedelta(days=3650))


def _on_heartbeat(_session: Session, envelope: Envelope) -> None:
    data = envelope.data
    nodes.record_heartbeat(envelope.source, at=envelope.time, version=data["version"],
                           backlog=data["backlog"], lag_seconds=data["lag_seconds"])


def _on_stats_snapshot(_session: Session, envelope: Envelope) -> None:
    stats_services.apply_snapshot_chunk(envelope)


def _on_content_published(_session: Session, envelope: Envelope) -> None:
    feed_services.apply_published(envelope)


def _on_content_withdrawn(_session: Session, envelope: Envelope) -> None:
    feed_services.apply_withdrawn(envelope)


def _on_content_counters(_session: Session, envelope: Envelope) -> None:
    feed_services.apply_counters(envelope)


def _on_directive_receipt(_session: Session, envelope: Envelope) -> None:
    directive_services.apply_receipt(envelope)


def _on_identity_indexed(_session: Session, envelope: Envelope) -> None:
    identity_services.apply_indexed(envelope)


def _on_transfer_step(_session: Session, envelope: Envelope) -> None:
    transfer_services.apply_step(envelope)


def _on_floating_step(_session: Session, envelope: Envelope) -> None:
    floating_services.apply_step(envelope)


HANDLERS = {HEARTBEAT: _on_heartbeat, SNAPSHOT: _on_stats_snapshot,
            SNAPSHOT_V2: _on_stats_snapshot,
            PUBLISHED: _on_content_published, WITHDRAWN: _on_content_withdrawn,
            COUNTERS: _on_content_counters, RECEIPT: _on_directive_receipt,
            INDEXED: _on_identity_indexed, TRANSFER_STEP: _on_transfer_step,
            FLOATING_STEP: _on_floating_step}


def authorize(_session: Session, envelope: Envelope) -> None:
    """Only enrolled nodes speak to the hub, each for its own tenants.

    Revocations are checked against the database too, not only against the worker's key ring
    (loaded at start, reloaded on unknown keys): a node or key revoked by `partynet hub node
    revoke` or a re-enrollment is refused from that commit on, by a worker already running.
    """
    def reject(reason: str, detail: str) -> Rejected:
        return Rejected(reason, detail, envelope_id=envelope.id, source=envelope.source,
                        message_type=envelope.type)

    refusal = nodes.standing(envelope.source, envelope.key_id)
    if refusal is not None:
        raise reject(*refusal)
    if envelope.tenant is not None and not nodes.owns_tenant(envelope.source, envelope.tenant):
        raise reject("tenant_not_owned",
                     f"{envelope.source} does not host tenant {envelope.tenant!r}")


def bus_url(settings: HubSettings) -> str:
    """The configured bus, or the embedded one in the instance folder (absolute path): the same
    file as a node's default, so a hub and nodes on one machine share one bus."""
    if settings.bus_url:
        return settings.bus_url
    return f"embedded://{Path('instance/bus.sqlite3').resolve()}"


def hub_party(settings: HubSettings) -> Party:
    return Party(id=HUB, db=db, signing_key=load_signing_key(settings), handlers=HANDLERS,
                 authorize=authorize, timing=TIMING)


def stats(now: dt.datetime | None = None) -> DeliveryStats:
    return delivery_stats(db.session(), now or utcnow())
