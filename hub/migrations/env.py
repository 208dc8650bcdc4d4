"""Alembic environment of the hub database: its own tables and the federation delivery tables
it keeps beside them."""

from __future__ import annotations

import hub.models  # noqa: F401  (registers every table on the metadata)
from federation.delivery.models import FederationModel
from hub.db import HubModel
from shared.db.migrations import run_env

run_env([HubModel.metadata, FederationModel.metadata])
