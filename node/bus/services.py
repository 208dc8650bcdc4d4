"""The node as a party on the federation bus: its key, its bus, its handlers, its health.

A node takes messages from the hub only (node-to-node traffic, such as transfers, is routed by
the hub), and its business code sends with `federation.delivery.send` inside its own
transaction. Handlers for content, directives and transfers are added by those features.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from federation import keyfile
from federation.delivery import Party, send
from federation.delivery.keystore import revoke
from federation.delivery.stats import DeliveryStats, delivery_stats
from federation.envelope import Envelope, Rejected, parse_time
from federation.keys import HUB, SigningKey, utcnow
from federation.messages import directives as directive_messages
from federation.messages import floating as floating_messages
from federation.messages import identity as identity_messages
from federation.messages import transfers as transfer_messages
from federation.messages.content import TAKEDOWN
from node.content import services as content
from node.db import db
from node.directives import services as directives
from node.directory import identity as node_identity
from node.directory import services as tenant_directory
from node.floating import remote as floating_remote
from node.identity import services as identity_index
from node.settings import NodeSettings
from node.tenants.services import list_tenants
from node.transfers import remote as transfers_remote
from shared.errors import Conflict, InvalidInput
from shared.version import VERSION

KEY_REVOKED = "partynet.keys.revoked.v1"
HEARTBEAT = "partynet.node.heartbeat.v1"


def _on_key_revoked(session: Session, envelope: Envelope) -> None:
    data = envelope.data
    revoke(session, data["owner"], data["key_id"], parse_time(data["at"]))


def _on_content_takedown(_session: Session, envelope: Envelope) -> None:
    content.apply_takedown(envelope.tenant, envelope.data)


def _on_directive_published(_session: Session, envelope: Envelope) -> None:
    directives.apply_published(envelope.data)


def _on_directive_withdrawn(_session: Session, envelope: Envelope) -> None:
    directives.apply_withdrawn(envelope.data)


def _on_identity_duplicate(_session: Session, envelope: Envelope) -> None:
    identity_index.apply_duplicate(envelope.data)


def _on_identity_resolved(_session: Session, envelope: Envelope) -> None:
    identity_index.apply_resolved(envelope.data)


def _on_tenant_directory(session: Session, envelope: Envelope) -> None:
    tenant_directory.apply_directory(session, envelope.data)


HANDLERS = {KEY_REVOKED: _on_key_revoked, TAKEDOWN: _on_content_takedown,
            directive_messages.PUBLISHED: _on_directive_published,
            directive_messages.WITHDRAWN: _on_directive_withdrawn,
            identity_messages.DUPLICATE: _on_identity_duplicate,
            identity_messages.RESOLVED: _on_identity_resolved,
            transfer_messages.DIRECTORY: _on_tenant_directory,
            transfer_messages.ROUTED: transfers_remote.apply_routed,
            transfer_messages.UNDELIVERABLE: transfers_remote.apply_undeliverable,
            floating_messages.ROUTED: floating_remote.apply_routed,
            floating_messages.UNDELIVERABLE: floating_remote.apply_undeliverable}


def _only_the_hub(_session: Session, envelope: Envelope) -> None:
    if envelope.source != HUB:
        raise Rejected("unauthorized_source", f"a node takes messages from the hub only, "
                       f"not from {envelope.source}", envelope_id=envelope.id,
                       source=envelope.source)


def bus_url(settings: NodeSettings) -> str:
    """The configured bus, or the embedded one in the instance folder (absolute path)."""
    if settings.bus_url:
        return settings.bus_url
    return f"embedded://{Path('instance/bus.sqlite3').resolve()}"


def load_signing_key(settings: NodeSettings) -> SigningKey:
    try:
        return keyfile.read_signing_key(settings.signing_key_file)
    except keyfile.KeyFileMissing:
        raise InvalidInput(f"No signing key at {settings.signing_key_file}: run "
                    f"`partynet node bus keygen`.") from None


def create_signing_key(settings: NodeSettings) -> SigningKey:
    """A new Ed25519 key in NODE_SIGNING_KEY_FILE, readable by the owner only."""
    try:
        return keyfile.create_signing_key(settings.signing_key_file)
    except FileExistsError:
        raise Conflict(f"{settings.signing_key_file} exists; rotating a key goes "
                       f"through the hub (re-enrollment).") from None


def node_party(settings: NodeSettings) -> Party:
    key = load_signing_key(settings)
    node_identity.configure(settings.node_id, key)  # steps sent from the worker (replies)
    return Party(id=settings.node_id, db=db, signing_key=key, handlers=HANDLERS,
                 authorize=_only_the_hub)


def stats(now: dt.datetime | None = None) -> DeliveryStats:
    return delivery_stats(db.session(), now or utcnow())


def send_heartbeat(now: dt.datetime | None = None) -> str:
    """Queue a health report to the hub (in the caller's transaction); returns its id."""
    health = stats(now)
    data = {"version": VERSION, "backlog": health.backlog,
            "lag_seconds": health.lag_seconds, "tenants": [t.slug for t in list_tenants()]}
    # Unsequenced: a heartbeat is worth sending once, never worth retransmitting later.
    return send(db.session(), HEARTBEAT, destination=HUB, data=data, sequenced=False)
