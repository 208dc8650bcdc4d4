"""Alembic environment of the hub database: its own tables and the federation delivery tables
it keeps beside them."""

from __future__ import annotations

from typing import Any

import hub.models  # noqa: F401  (registers every table on the metadata)
from federation.delivery.models import FederationModel
from hub.db import HubModel
from hub.feed.models import SEARCH_OBJECTS
from shared.db.migrations import run_env


def include_object(_obj: Any, name: str | None, _type: str, _reflected: bool,
                   _compare_to: Any) -> bool:
    """The feed's full-text index is dialect-specific and not a model: the FTS5 table and its
    shadow tables on SQLite, the tsvector column and its GIN index on PostgreSQL."""
    if name is None:
        return True
    return name not in SEARCH_OBJECTS and not name.startswith("feed_fts_")


run_env([HubModel.metadata, FederationModel.metadata], include_object=include_object)
