"""feed search performance

Revision ID: 5b0000000008
Revises: 5b0000000007
Create Date: 2026-11-21 13:00:00
"""

from alembic import op
import sqlalchemy as sa
import shared.db.base


revision = '5b0000000008'
down_revision = '5b0000000007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A search's window of publication time within a region or tenant filter is one index
    # range (hub.feed.services.newest_matches); the region-only index is their prefix.
    with op.batch_alter_table('feed_items', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_items_region')
        batch_op.create_index('ix_feed_items_region_published_at', ['region', 'published_at'],
                              unique=False)
        batch_op.create_index('ix_feed_items_tenant_published_at', ['tenant', 'published_at'],
                              unique=False)

    # PostgreSQL: the full-text index's first column is the UTC publication time (btree_gin,
    # a trusted contrib extension the database owner may create), so that a search's first
    # window and its words are matched inside the index (hub.feed.search.published_since).
    # The name stays: it is one of models.SEARCH_OBJECTS, hidden from `alembic check`.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.execute("DROP INDEX IF EXISTS ix_feed_items_search_vector")
        op.execute("CREATE INDEX ix_feed_items_search_vector ON feed_items USING gin "
                   "((published_at AT TIME ZONE 'UTC'), search_vector)")
        # No statistics for the time column: the planner must not count a window twice (its
        # `published_at >= since` and the same bound on this column), or it would take a
        # common word's window for a few hundred rows and read them all instead of walking
        # the date index to the newest 1,100.
        op.execute("ALTER INDEX ix_feed_items_search_vector ALTER COLUMN 1 SET STATISTICS 0")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # btree_gin stays installed (other objects may use it; it costs nothing idle).
        op.execute("DROP INDEX IF EXISTS ix_feed_items_search_vector")
        op.execute("CREATE INDEX ix_feed_items_search_vector ON feed_items "
                   "USING gin (search_vector)")
    with op.batch_alter_table('feed_items', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_items_tenant_published_at')
        batch_op.drop_index('ix_feed_items_region_published_at')
        batch_op.create_index('ix_feed_items_region', ['region'], unique=False)
