"""The delivery tables each app (node or hub) keeps in its own database, beside its business data.

They live on their own metadata so that the node's and the hub's Alembic trees both include them
(`target_metadata = [app metadata, FederationModel.metadata]`) without either app importing the
other. None of them is tenant-scoped: delivery belongs to the whole installation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.base import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow

#: "Due since always": the first send of a message never waits.
DUE_AT_ONCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_party = sa.String(128)
_message_id = sa.String(36)
_type = sa.String(128)


class FederationModel(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class OutboxMessage(FederationModel):
    """A message to send, written in the same transaction as the business change it reports.

    Sequenced messages get their stream sequence from the relay when first sent and stay here
    until the peer acknowledges them; unsequenced ones (acks, resend requests) go once.
    """

    __tablename__ = "fed_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(_message_id, unique=True)
    destination: Mapped[str] = mapped_column(_party)
    type: Mapped[str] = mapped_column(_type)
    tenant: Mapped[str | None]
    data: Mapped[dict[str, Any]]
    sequenced: Mapped[bool] = mapped_column(default=True)
    sequence: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[dt.datetime | None]
    #: New rows are due at once, whatever clock the relay runs on.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=DUE_AT_ONCE)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))

    __table_args__ = (
        sa.Index("ix_fed_outbox_due", "next_attempt_at", "id"),
        sa.Index("ix_fed_outbox_stream", "destination", "sequence"),
    )


class Stream(FederationModel):
    """Both directions of the stream with one peer: what we sent and what we applied."""

    __tablename__ = "fed_streams"

    peer: Mapped[str] = mapped_column(_party, primary_key=True)
    #: Sending side: the last sequence given out, and how far the peer has acknowledged.
    out_sequence: Mapped[int] = mapped_column(default=0)
    out_acked_up_to: Mapped[int] = mapped_column(default=0)
    #: Receiving side: applied in order up to here; what we last acknowledged.
    in_applied_up_to: Mapped[int] = mapped_column(default=0)
    in_acked_up_to: Mapped[int] = mapped_column(default=0)
    in_ack_due: Mapped[bool] = mapped_column(default=False)
    in_resend_asked_at: Mapped[dt.datetime | None]
    last_received_at: Mapped[dt.datetime | None]
    last_sent_at: Mapped[dt.datetime | None]
    #: Peer backoff after it could not be reached (unroutable): no traffic to it before this.
    blocked_until: Mapped[dt.datetime | None]
    block_interval: Mapped[int] = mapped_column(default=0)  # seconds


class InboxMessage(FederationModel):
    """Every message applied (or deliberately skipped), once: the dedup record."""

    __tablename__ = "fed_inbox"

    source: Mapped[str] = mapped_column(_party, primary_key=True)
    message_id: Mapped[str] = mapped_column(_message_id, primary_key=True)
    type: Mapped[str] = mapped_column(_type)
    sequence: Mapped[int | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ParkedMessage(FederationModel):
    """A verified message that arrived ahead of its turn; applied when the gap is filled."""

    __tablename__ = "fed_parked"

    source: Mapped[str] = mapped_column(_party, primary_key=True)
    sequence: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(_message_id)
    type: Mapped[str] = mapped_column(_type)
    tenant: Mapped[str | None]
    time: Mapped[dt.datetime]
    key_id: Mapped[str | None] = mapped_column(sa.String(80))
    data: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuarantinedMessage(FederationModel):
    """A message that was not applied, with the reason: never silently dropped."""

    __tablename__ = "fed_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(40), index=True)
    detail: Mapped[str] = mapped_column(sa.String(1000))
    source: Mapped[str | None] = mapped_column(_party)  # as claimed: maybe unverified
    message_id: Mapped[str | None] = mapped_column(_message_id)
    type: Mapped[str | None] = mapped_column(_type)
    #: The tenant the message is about, as claimed: lets a tenant's administrators see their own.
    tenant: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(12), default="held", index=True)
    times_seen: Mapped[int] = mapped_column(default=1)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(120))
    resolution: Mapped[str | None] = mapped_column(sa.String(1000))

    __table_args__ = (
        sa.UniqueConstraint("source", "message_id", "reason"),
    )


class KnownKey(FederationModel):
    """A peer's public key as the hub's signed directory (or enrollment) told us."""

    __tablename__ = "fed_keys"

    owner: Mapped[str] = mapped_column(_party, primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    public: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RevokedOwner(FederationModel):
    """A whole party revoked by the hub: every key of it is refused from then on."""

    __tablename__ = "fed_revoked_owners"

    owner: Mapped[str] = mapped_column(_party, primary_key=True)
    revoked_at: Mapped[dt.datetime]


class AppliedDirectory(FederationModel):
    """The last key directory applied (one row): an older one is never applied over it."""

    __tablename__ = "fed_directory"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    issued_at: Mapped[dt.datetime]
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
