"""Which real database servers the suite runs against.

SQLite always. PostgreSQL whenever it is reachable; under CI (CI=true) it is required, so a
missing server fails the run instead of silently skipping half the suite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("PARTYNET_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_reachable() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


def backends() -> list[str]:
    wanted = os.environ.get("PARTYNET_TEST_BACKENDS")
    if wanted:
        return [b.strip() for b in wanted.split(",") if b.strip()]
    return ["sqlite", "postgresql"] if (in_ci() or postgres_reachable()) else ["sqlite"]


def create_pg_database(name: str) -> str:
    """(Re)create an empty database and return its URL."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@contextlib.contextmanager
def fresh_pg_database(prefix: str, *, required: bool = False) -> Iterator[str]:
    """A new, empty PostgreSQL database for a test, dropped afterwards.

    An unreachable server fails the test under CI (or when `required`), and skips it
    elsewhere: the one place that rule lives.
    """
    name = f"{prefix}_{secrets.token_hex(3)}"
    try:
        url = create_pg_database(name)
    except sa.exc.OperationalError as exc:
        if required or in_ci():
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield url
    finally:
        drop_pg_database(name)
