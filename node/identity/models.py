"""What the hub told this node about its members registered elsewhere too.

One `IdentityFlag` per (tenant, keyed hash): the hub's latest word on that person, `elsewhere`
being the other tenants (node, slug, region code) where they are on the rolls. A resolved flag
is kept (with `resolved_at`) so that an older, reordered "duplicate" cannot bring it back.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow


class IdentityFlag(TenantScoped, NodeModel):
    __tablename__ = "identity_flags"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The keyed hash of the national ID (`members.national_id_hash`).
    hash: Mapped[str] = mapped_column(sa.String(64))
    #: [{"node": ..., "tenant": ..., "region": ...}] as the hub sent them (empty when resolved).
    elsewhere: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    #: The hub's time of its latest notice: an older notice changes nothing.
    as_of: Mapped[dt.datetime]
    flagged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def __repr__(self) -> str:
        return f"<IdentityFlag {self.id} {self.hash[:8]}>"
