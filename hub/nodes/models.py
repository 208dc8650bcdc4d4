"""The registry of enrolled nodes, their tenants, and the one-time enrollment tokens."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type

_party = sa.String(128)


class NodeStatus(enum.StrEnum):
    active = "active"
    revoked = "revoked"


class Node(HubModel):
    """A node of the network; its id is its party id on the bus (the owner of its keys)."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(_party, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[NodeStatus] = mapped_column(
        sa.Enum(NodeStatus, native_enum=False, length=12), default=NodeStatus.active)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The last (re-)enrollment.
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(120))
    #: From the node's last heartbeat (its signed time, version and delivery health).
    last_seen_at: Mapped[dt.datetime | None]
    version: Mapped[str | None] = mapped_column(sa.String(64))
    backlog: Mapped[int | None]
    lag_seconds: Mapped[int | None]

    def __repr__(self) -> str:
        return f"<Node {self.id} {self.status}>"


class NodeTenant(HubModel):
    """A tenant hosted by a node, with the code prefix the hub assigned (network-unique)."""

    __tablename__ = "node_tenants"
    __table_args__ = (sa.UniqueConstraint("node_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(sa.ForeignKey("nodes.id"), index=True)
    #: The tenant's name on its node, as it appears in the envelope's `tenant` field.
    slug: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(120))
    code_prefix: Mapped[str] = mapped_column(code_type(12), unique=True)
    #: The 6-digit GB/T 2260 division code (the token's region, or the prefix's first 6 digits).
    region: Mapped[str] = mapped_column(code_type(6), index=True)
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<NodeTenant {self.node_id}/{self.slug} {self.code_prefix}>"


class EnrollmentToken(HubModel):
    """A one-time, expiring credential for one node id; only a SHA-256 of the token is kept."""

    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the token, hex: the token itself was shown once to the hub administrator.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    node_id: Mapped[str] = mapped_column(_party, index=True)
    #: The node's display name in the registry (default: its id).
    node_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: Code prefixes the node may register tenants under (each tenant prefix starts with one).
    allowed_prefixes: Mapped[list[str]] = mapped_column(sa.JSON)
    #: The region given to the node's tenants; None: the first 6 digits of each prefix.
    region: Mapped[str | None] = mapped_column(code_type(6))
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    #: Revoked by an administrator before it was used: it admits nobody.
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(120))

    def __repr__(self) -> str:
        return f"<EnrollmentToken {self.id} for {self.node_id}>"


class EnrollmentFailure(HubModel):
    """Failed enrollment attempts per client address, for throttling token guessing.

    Kept in the database, not in process memory, so every worker sees the same counts.
    """

    __tablename__ = "enrollment_failures"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime]
