"""The read-only unit of work: no transaction, no lock, and no writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db.session import Database, ReadOnlyViolation, transaction
from shared.testing.backends import backends, fresh_pg_database


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


@pytest.fixture(params=backends())
def database(request, tmp_path) -> Iterator[Database]:
    db = Database()
    if request.param == "sqlite":
        db.configure(f"sqlite:///{tmp_path / 'things.db'}")
        assert db.engine is not None
        Base.metadata.create_all(db.engine)
        yield db
        db.dispose()
        return
    with fresh_pg_database("partynet_session") as url:
        db.configure(url)
        assert db.engine is not None
        Base.metadata.create_all(db.engine)
        yield db
        db.dispose()


def test_reads_run_without_a_transaction(database):
    with transaction(database) as session:
        session.add(Thing(name="a"))
    database.read_only()
    assert database.session.connection().get_execution_options()["isolation_level"] == \
        "AUTOCOMMIT"
    assert database.session.scalars(sa.select(Thing.name)).all() == ["a"]
    database.end_read_only()
    database.session.remove()
    # The pooled connection comes back transactional for the next unit of work.
    with transaction(database) as session:
        assert session.connection().get_execution_options().get("isolation_level") != \
            "AUTOCOMMIT"
        session.add(Thing(name="b"))
    assert database.session.scalar(sa.select(sa.func.count()).select_from(Thing)) == 2


def test_writes_in_a_read_only_unit_fail_and_change_nothing(database):
    database.read_only()
    database.session.add(Thing(name="sneaky"))
    with pytest.raises(ReadOnlyViolation):
        database.session.flush()
    database.session.rollback()
    with pytest.raises(ReadOnlyViolation):
        database.session.execute(sa.insert(Thing).values(name="core"))
    with pytest.raises(ReadOnlyViolation):
        database.session.execute(sa.update(Thing).values(name="x"))
    database.end_read_only()
    database.session.remove()
    assert database.session.scalar(sa.select(sa.func.count()).select_from(Thing)) == 0


def test_a_read_only_unit_on_sqlite_does_not_block_a_writer(tmp_path):
    db = Database()
    path = tmp_path / "lock.db"
    db.configure(f"sqlite:///{path}")
    assert db.engine is not None
    Base.metadata.create_all(db.engine)
    try:
        db.read_only()
        assert db.session.scalars(sa.select(Thing)).all() == []
        # Another process's writer gets the lock at once (no BEGIN IMMEDIATE held by the read).
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO things (name) VALUES ('w')")
        other.execute("COMMIT")
        other.close()
        assert db.session.scalars(sa.select(Thing.name)).all() == ["w"]
    finally:
        db.end_read_only()
        db.dispose()


def test_without_read_only_a_sqlite_unit_takes_the_write_lock(tmp_path):
    """The control for the test above: an ordinary unit of work does hold the lock."""
    db = Database()
    path = tmp_path / "lock.db"
    db.configure(f"sqlite:///{path}")
    assert db.engine is not None
    Base.metadata.create_all(db.engine)
    try:
        assert db.session.scalars(sa.select(Thing)).all() == []
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    finally:
        db.dispose()
