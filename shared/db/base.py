"""Pieces every declarative base in the project uses, so hub and node schemas look alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Every constraint gets a deterministic name, so Alembic can drop and alter them portably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite stores no offset, so naive values read back are tagged UTC; aware values written are
    converted to UTC first. Naive input is refused: it is always a bug.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def code_type(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte by byte on every backend, so prefix range queries use the index.

    PostgreSQL's default collation would ignore punctuation and order locale-wise; "C" keeps the
    subtree query `code >= prefix AND code < prefix || ':'` exact and indexable.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


TYPE_ANNOTATION_MAP: dict[Any, sa.types.TypeEngine[Any]] = {
    dt.datetime: UTCDateTime(),
    Decimal: sa.Numeric(12, 2),
    str: sa.String(255),
    dict[str, Any]: sa.JSON(),
}


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
