"""Alembic environment of the node database (one migration tree per app)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import node.models  # noqa: F401  (registers every table on the metadata)
from federation.delivery.models import FederationModel
from node.db import NodeModel

config = context.config
#: The node's own tables and the federation delivery tables it keeps beside them.
target_metadata = [NodeModel.metadata, FederationModel.metadata]


def run_with(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      compare_type=True, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {},
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
