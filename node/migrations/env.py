"""Alembic environment of the node database: its own tables and the federation delivery tables
it keeps beside them."""

from __future__ import annotations

import node.models  # noqa: F401  (registers every table on the metadata)
from federation.delivery.models import FederationModel
from node.db import NodeModel
from shared.db.migrations import run_env

run_env([NodeModel.metadata, FederationModel.metadata])
