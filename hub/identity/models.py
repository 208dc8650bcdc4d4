"""The identity index: keyed hashes of national IDs per tenant, and what each tenant was told.

The hub holds **hashes only** (HMAC-SHA256 under the network's identity hash key, which the hub
does not have): never an ID, a name or a member number. `IdentityEntry` is the latest word of a
tenant about one hash (latest `as_of` wins); `IdentityNotice` is what the hub last told that
tenant's node about it, so a notice is sent once per change and never repeated.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow


class IdentityEntry(HubModel):
    __tablename__ = "identity_entries"
    __table_args__ = (sa.UniqueConstraint("hash", "node_tenant_id"),
                      sa.Index("ix_identity_entries_node_tenant_id", "node_tenant_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(sa.String(64))
    node_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("node_tenants.id"))
    #: On the tenant's rolls (any status but transferred out and left).
    active: Mapped[bool]
    #: The node's time of the change (or of the resync that last named it).
    as_of: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IdentityNotice(HubModel):
    """What the tenant's node was last told about the hash: the other tenants (ids of
    `node_tenants`, sorted) where the person is active; empty once resolved."""

    __tablename__ = "identity_notices"
    __table_args__ = (sa.UniqueConstraint("hash", "node_tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(sa.String(64))
    node_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("node_tenants.id"), index=True)
    elsewhere: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    #: When the current duplicate began (None once resolved).
    flagged_since: Mapped[dt.datetime | None]
    #: The `as_of` of the last notice sent (strictly increasing per row).
    sent_as_of: Mapped[dt.datetime]
