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

    def dispose(self) -> None:
        self.session.remove()
        if self.engine is not None:
            self.engine.dispose()


_DEPTH_KEY = "partynet_tx_depth"


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
