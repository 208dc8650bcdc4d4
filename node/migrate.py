"""The node's migration tree (shared/db/migrations.py drives Alembic from code)."""

from __future__ import annotations

from shared.db.migrations import MigrationTree

TREE = MigrationTree("node:migrations")
alembic_config = TREE.config
upgrade = TREE.upgrade
head_revision = TREE.head_revision
current_revision = TREE.current_revision
