"""Database foundation shared by hub and node: typed declarative base and the unit of work."""

from shared.db.base import (
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)
from shared.db.session import Database, transaction

__all__ = [
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "Database",
    "TimestampMixin",
    "UTCDateTime",
    "transaction",
    "utcnow",
]
