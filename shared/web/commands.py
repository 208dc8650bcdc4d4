"""What the node's and the hub's command lines share: env files, readable domain errors, and
serving an app with gunicorn."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask

from shared.db.migrations import MigrationTree
from shared.db.session import Database
from shared.errors import DomainError


def load_env_file(path: Path) -> None:
    """KEY=VALUE lines, without overriding what the environment already says."""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip())


def fail_on_domain_error(fn: Any) -> Any:
    """Show a domain error as a one-line CLI error instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            details = "".join(f"\n  {k}: {'; '.join(map(str, v))}"
                              for k, v in (exc.errors or {}).items())
            raise click.ClickException(f"{exc}{details}") from None

    return wrapper


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int,
                 post_fork: Callable[[Any, Any], None], on_ready: Any = None) -> None:
    """Serve `app` with gunicorn in this process until SIGINT/SIGTERM.

    `post_fork` runs in every worker (drop the database pool inherited from the master).
    """
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")
            self.cfg.set("post_fork", post_fork)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1
                self.cfg.set("control_socket_disable", True)  # one per $HOME would clash
            if on_ready is not None:
                self.cfg.set("when_ready", lambda _arbiter: on_ready())

        def load(self) -> Flask:
            return app

    _Server().run()


def db_commands(*, app: str, load_app: Callable[[], Any], db: Database,
                tree: MigrationTree) -> click.Group:
    """`partynet <app> db upgrade|check|revision`: the app's own migration tree."""

    @click.group("db", help=f"Database schema (Alembic, the {app}'s own migration tree).")
    def group() -> None:
        pass

    def engine() -> Any:
        load_app()
        assert db.engine is not None
        return db.engine

    @group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade(revision: str) -> None:
        """Apply migrations up to REVISION (default: head)."""
        tree.upgrade(engine(), revision)
        click.echo(f"database at {revision}")

    @group.command("check")
    def check() -> None:
        """Fail if the models and the migrations disagree (alembic check)."""
        from alembic import command

        with engine().connect() as connection:
            command.check(tree.config(connection=connection))
        click.echo("models and migrations agree")

    @group.command("revision")
    @click.option("-m", "--message", required=True, help="Imperative slug, e.g. 'add notes'.")
    @click.option("--rev-id", default=None,
                  help="A chosen revision id (parallel branches of work agree on their chain).")
    def revision(message: str, rev_id: str | None) -> None:
        """Autogenerate a migration from the models (developers)."""
        from alembic import command

        with engine().connect() as connection:
            command.revision(tree.config(connection=connection), message=message,
                             autogenerate=True, rev_id=rev_id)

    return group
