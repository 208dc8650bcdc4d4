"""Alembic driven from code, one migration tree per app (no alembic.ini to keep in sync).

`MigrationTree("node:migrations")` gives an app its `upgrade`, `head_revision`, ... and an app's
`migrations/env.py` is `run_env([app metadata, federation metadata])`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


class MigrationTree:
    def __init__(self, script_location: str) -> None:
        self.script_location = script_location

    def config(self, url: str | None = None, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.set_main_option("file_template", FILE_TEMPLATE)
        if url:
            config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def upgrade(self, engine_or_connection: Engine | Connection, revision: str = "head") -> None:
        if isinstance(engine_or_connection, Engine):
            with engine_or_connection.begin() as connection:
                command.upgrade(self.config(connection=connection), revision)
        else:
            command.upgrade(self.config(connection=engine_or_connection), revision)

    @functools.cache  # noqa: B019 - one tree per app, alive for the process
    def head_revision(self) -> str | None:
        """The head of the tree: fixed for the life of the process (readyz asks often)."""
        return ScriptDirectory.from_config(self.config()).get_current_head()

    @staticmethod
    def current_revision(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()


#: Alembic's `include_object` hook: (object, name, type, reflected, compare_to) -> keep it?
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def run_env(target_metadata: Sequence[sa.MetaData],
            include_object: IncludeObject | None = None) -> None:
    """The body of an app's migrations/env.py: online on the given connection or URL, or
    offline (SQL script). `include_object` hides schema objects the models do not describe
    (such as a full-text index that exists for one dialect only) from autogenerate and check."""
    config = context.config

    def run_with(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=list(target_metadata),
                          compare_type=True, include_object=include_object,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"),
                          target_metadata=list(target_metadata), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = sa.engine_from_config(config.get_section(config.config_ini_section) or {},
                                   prefix="sqlalchemy.", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)
