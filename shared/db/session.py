"""Engine, scoped session and the single transaction helper used at the edges.

Services only flush; a request, a CLI command or a federation message is one transaction,
committed by `transaction()` at its edge. Nested use is a no-op, so a command that calls
another command never commits half the work.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

P = ParamSpec("P")
R = TypeVar("R")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas the embedded SQLite default needs."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (SAVEPOINT support).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: two deferred transactions that both read
            # and then write would deadlock with "database is locked" whatever the timeout.
            # A read-only unit of work (AUTOCOMMIT) takes no lock at all.
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping (a round trip on every checkout); recycle instead, so connections that a
    # server or a firewall dropped long ago are not handed out.
    kwargs.setdefault("pool_recycle", 1800)
    return sa.create_engine(url, **kwargs)


class Database:
    """Owns one engine and a thread/request-scoped session; Flask-free so workers can use it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory = sessionmaker(expire_on_commit=False, autoflush=True)
        self.session: scoped_session[Session] = scoped_session(self._factory)

    def configure(self, url: str | None = None, *, bind: Engine | Connection | None = None,
                  **session_kwargs: Any) -> None:
        """Bind to a URL, or to an existing engine/connection (tests bind to a connection)."""
        self.session.remove()
        if url is not None:
            self.engine = make_engine(url)
            bind = self.engine
        self._factory.configure(bind=bind, **session_kwargs)

    def read_only(self) -> None:
        """Make the current unit of work read-only (an API read): it runs without a transaction,
        saving the BEGIN and ROLLBACK round trips and, on SQLite, the write lock; and any
        attempt to write in it fails loudly instead of being committed statement by statement.

        Bound to a connection (tests), only the write guard applies.
        """
        session = self.session()
        session.info[READ_ONLY_KEY] = True
        if isinstance(session.get_bind(), Engine) and not session.in_transaction():
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def end_read_only(self) -> None:
        """Lift the write guard at the end of the unit of work (the session may live on)."""
        if self.session.registry.has():
            self.session().info.pop(READ_ONLY_KEY, None)

    def dispose(self) -> None:
        self.session.remove()
        if self.engine is not None:
            self.engine.dispose()


_DEPTH_KEY = "partynet_tx_depth"
READ_ONLY_KEY = "partynet_read_only"


_READ_ONLY_MESSAGE = ("This unit of work is read-only (an API read); write in a "
                      "POST/PUT/PATCH/DELETE request or a command.")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work tried to write: a programming error, not a client's."""


@sa.event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY_KEY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlyViolation(_READ_ONLY_MESSAGE)


@sa.event.listens_for(Session, "do_orm_execute")
def _refuse_statements(state: Any) -> None:
    if state.session.info.get(READ_ONLY_KEY) and (state.is_insert or state.is_update
                                                  or state.is_delete):
        raise ReadOnlyViolation(_READ_ONLY_MESSAGE)


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[Session]:
    """Commit on success, roll back on error; a no-op when already inside one."""
    session = db.session()
    depth = session.info.get(_DEPTH_KEY, 0)
    session.info[_DEPTH_KEY] = depth + 1
    try:
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH_KEY] = depth


def transactional(db: Database) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of `transaction` for views and commands."""

    def decorator(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with transaction(db):
                return fn(*args, **kwargs)

        return wrapper

    return decorator
