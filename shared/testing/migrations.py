"""The round trip every app's migration tree must survive, on a database of the test backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command

from shared.db.migrations import MigrationTree
from shared.db.session import make_engine
from shared.testing.backends import fresh_pg_database


@contextlib.contextmanager
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    with fresh_pg_database("partynet_migrations", required=True) as url:
        yield url


def roundtrip(tree: MigrationTree, url: str) -> set[str]:
    """Upgrade from empty, `alembic check` (models and migrations agree), one step down and up
    again; returns the tables at head."""
    engine = make_engine(url)
    try:
        tree.upgrade(engine)
        with engine.connect() as connection:
            command.check(tree.config(connection=connection))
            assert tree.current_revision(connection) == tree.head_revision()
        with engine.begin() as connection:
            command.downgrade(tree.config(connection=connection), "-1")
        with engine.connect() as connection:
            assert tree.current_revision(connection) != tree.head_revision()
        tree.upgrade(engine)
        with engine.connect() as connection:
            return set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
