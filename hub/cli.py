"""`partynet hub ...`: operator commands. Each is thin: parse, one transaction, a service."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import click
from flask import Flask

from hub import migrate
from hub.accounts.cli import account_group
from hub.auth.cli import client_group
from hub.bus.cli import bus_group
from hub.db import db
from hub.directives.cli import directive_group
from hub.feed.cli import feed_group
from hub.nodes.cli import node_group, token_group
from hub.settings import HubSettings
from hub.transfers.cli import transfers_group
from shared.settings import SettingsError
from shared.web.commands import db_commands, fail_on_domain_error, load_env_file
from shared.web.commands import run_gunicorn as serve_app


def make_app() -> Flask:
    from hub.app import create_app

    try:
        return create_app(HubSettings.from_env())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HUB_ENV_FILE", help="Read HUB_* settings from this file first.")
def cli(env_file: Path | None) -> None:
    """Run and operate the partynet hub."""
    if env_file is not None and env_file.exists():
        load_env_file(env_file)


@cli.command("keygen")
def keygen() -> None:
    """Print fresh random secrets as HUB_* lines for an environment file."""
    click.echo(f"HUB_SECRET_KEY={secrets.token_urlsafe(32)}")


cli.add_command(db_commands(app="hub", load_app=lambda: make_app(), db=db, tree=migrate.TREE))


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5100, type=int)
@click.option("--workers", default=2, type=int, help="gunicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the hub with gunicorn (production-style)."""
    run_gunicorn(make_app(), host=host, port=port, workers=workers)


def dispose_after_fork(_server: Any, _worker: Any) -> None:
    """gunicorn `post_fork`: drop the pool inherited from the master (a socket or a SQLite
    handle shared across processes corrupts both sides)."""
    if db.engine is not None:
        db.engine.dispose(close=False)


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int,
                 on_ready: Any = None) -> None:
    """Serve `app` with gunicorn in this process until SIGINT/SIGTERM."""
    db.session.remove()
    serve_app(app, host=host, port=port, workers=workers, post_fork=dispose_after_fork,
              on_ready=on_ready)


_bus = bus_group(make_app=make_app, on_domain_error=fail_on_domain_error)
cli.add_command(_bus)
#: `partynet hub consume`: the issue's name for the hub's consumer (= `partynet hub bus consume`).
cli.add_command(_bus.commands["consume"], "consume")
cli.add_command(token_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(node_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(feed_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(directive_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(account_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(client_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(transfers_group(make_app=make_app, on_domain_error=fail_on_domain_error))
