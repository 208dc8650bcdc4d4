"""Feed items received from the nodes (public content only), with tombstones and take-downs.

The full-text index is not a model: on SQLite it is the FTS5 table `feed_fts` (rowid = item
id), on PostgreSQL the `search_vector` tsvector column of `feed_items` with a GIN index; both
are created by the migration for their dialect only and maintained by `hub.feed.search`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type

#: Schema objects that exist for one dialect only (excluded from `alembic check`).
SEARCH_OBJECTS = frozenset({"feed_fts", "search_vector", "ix_feed_items_search_vector"})


class FeedItem(HubModel):
    """One item of the feed, keyed by (source node, content key `<tenant>:<article id>`).

    A row may be a bare tombstone (`withdrawn_at` set, no content yet): a withdrawal that
    arrived before its creation, kept so that the late creation is ignored.
    """

    __tablename__ = "feed_items"
    __table_args__ = (
        sa.UniqueConstraint("node_id", "content_key"),
        sa.Index("ix_feed_items_published_at_id", "published_at", "id"),
        sa.Index("ix_feed_items_org_code", "org_code"),
        # A region or tenant filter and a search's window of publication time, in one index
        # range (hub.feed.services.newest_matches): the region alone would select a
        # province's items of every year.
        sa.Index("ix_feed_items_region_published_at", "region", "published_at"),
        sa.Index("ix_feed_items_tenant_published_at", "tenant", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(sa.ForeignKey("nodes.id"))
    content_key: Mapped[str] = mapped_column(sa.String(80))
    node_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("node_tenants.id"), index=True)
    tenant: Mapped[str] = mapped_column(sa.String(40))
    region: Mapped[str] = mapped_column(code_type(6))
    org_code: Mapped[str | None] = mapped_column(code_type(64))
    org_name: Mapped[str | None] = mapped_column(sa.String(120))
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    summary: Mapped[str | None] = mapped_column(sa.String(1000))
    body: Mapped[str | None] = mapped_column(sa.Text)
    body_truncated: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    views: Mapped[int] = mapped_column(default=0)
    likes: Mapped[int] = mapped_column(default=0)
    #: The tombstone: the node withdrew it (or made it non-public) at this time.
    withdrawn_at: Mapped[dt.datetime | None]
    #: A hub administrator's take-down (sticky: later updates stay hidden).
    taken_down_at: Mapped[dt.datetime | None]
    taken_down_by: Mapped[str | None] = mapped_column(sa.String(120))
    takedown_reason: Mapped[str | None] = mapped_column(sa.String(500))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When the content (and its index entry) was last written.
    indexed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    retry_count: Mapped[int] = mapped_column(default=0)

    @property
    def visible(self) -> bool:
        return (self.withdrawn_at is None and self.taken_down_at is None
                and self.published_at is not None)

    def __repr__(self) -> str:
        return f"<FeedItem {self.id} {self.node_id}/{self.content_key}>"
