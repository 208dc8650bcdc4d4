"""Alembic for the hub's own migration tree, driven from code (no alembic.ini to keep in sync)."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

SCRIPT_LOCATION = "hub:migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine_or_connection: Engine | Connection, revision: str = "head") -> None:
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.begin() as connection:
            command.upgrade(alembic_config(connection=connection), revision)
    else:
        command.upgrade(alembic_config(connection=engine_or_connection), revision)


@functools.cache
def head_revision() -> str | None:
    """The head of the migration tree: fixed for the life of the process (readyz asks often)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
