"""`partynet node ...`: operator commands. Each is thin: parse, one transaction, a service."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import click
from flask import Flask

from node import migrate
from node.auth.cli import client_group
from node.bus.cli import bus_group
from node.db import db
from node.directives.cli import directives_group
from node.directory.cli import directory_group
from node.dues.cli import dues_group
from node.floating.cli import floating_group
from node.identity.cli import identity_group
from node.imports.cli import members_group
from node.reports.cli import reports_group
from node.settings import NodeSettings
from node.stats.cli import stats_group
from node.transfers.cli import transfers_group
from shared.db import transaction
from shared.identity import generate_key_b64
from shared.settings import SettingsError
from shared.web.commands import db_commands, fail_on_domain_error, load_env_file
from shared.web.commands import run_gunicorn as serve_app


def make_app() -> Flask:
    from node.app import create_app

    try:
        return create_app(NodeSettings.from_env())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="NODE_ENV_FILE", help="Read NODE_* settings from this file first.")
def cli(env_file: Path | None) -> None:
    """Run and operate a partynet node."""
    if env_file is not None and env_file.exists():
        load_env_file(env_file)


@cli.command("keygen")
def keygen() -> None:
    """Print fresh random secrets as NODE_* lines for an environment file."""
    click.echo(f"NODE_SECRET_KEY={secrets.token_urlsafe(32)}")
    click.echo(f"NODE_PII_KEY={generate_key_b64()}")
    click.echo(f"NODE_IDENTITY_HASH_KEY={secrets.token_urlsafe(32)}")


cli.add_command(db_commands(app="node", load_app=lambda: make_app(), db=db, tree=migrate.TREE))


@cli.group("tenant")
def tenant_group() -> None:
    """Tenants hosted by this node."""


@tenant_group.command("create")
@click.option("--slug", required=True, help="Short name used in URLs, e.g. dadukou.")
@click.option("--name", required=True, help="Display name, e.g. 中共大渡口区委.")
@click.option("--code-prefix", required=True,
              help="Root org code prefix from the hub (starts with the GB/T 2260 code).")
@click.option("--admin-username", required=True)
@click.option("--admin-password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--host", "hosts", multiple=True,
              help="Host name that serves this tenant's site (repeat for several).")
@click.option("--root-org-name", default=None)
@fail_on_domain_error
def tenant_create(**options: Any) -> None:
    """Create a tenant with its root organization and first administrator."""
    from node.audit.recording import acting_as
    from node.tenants.services import create_tenant

    make_app()
    with acting_as("cli"), transaction(db):
        tenant = create_tenant(**options)
    click.echo(f"created tenant {tenant.slug} (id {tenant.id}, prefix {tenant.code_prefix})")


@tenant_group.command("set-host")
@click.argument("slug")
@click.argument("hosts", nargs=-1)
@fail_on_domain_error
def tenant_set_host(slug: str, hosts: tuple[str, ...]) -> None:
    """Set the host names that serve tenant SLUG's site (none: only /t/SLUG/ serves it)."""
    from node.audit.recording import acting_as
    from node.tenants.services import get_tenant_by_slug, set_tenant_hosts

    make_app()
    with acting_as("cli"), transaction(db):
        saved = set_tenant_hosts(get_tenant_by_slug(slug), hosts)
    click.echo(f"{slug}: {' '.join(saved) if saved else 'no host names (path /t/' + slug + '/)'}")


@tenant_group.command("list")
def tenant_list() -> None:
    """List tenants with their host names."""
    from node.tenants.services import list_tenants, tenant_hosts

    make_app()
    for tenant in list_tenants():
        hosts = ",".join(tenant_hosts(tenant)) or "-"
        click.echo(f"{tenant.id}\t{tenant.slug}\t{tenant.code_prefix}\t{tenant.name}\t{hosts}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int, help="gunicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the node with gunicorn (production-style)."""
    run_gunicorn(make_app(), host=host, port=port, workers=workers)


def dispose_after_fork(_server: Any, _worker: Any) -> None:
    """gunicorn `post_fork`: drop the pool inherited from the master, keep its connections open.

    The app (and maybe a connection, e.g. the demo's seeding) exists before the fork; sharing a
    socket or a SQLite handle across processes corrupts both sides, so each worker starts afresh.
    """
    if db.engine is not None:
        db.engine.dispose(close=False)


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int,
                 on_ready: Any = None) -> None:
    """Serve `app` with gunicorn in this process until SIGINT/SIGTERM."""
    db.session.remove()
    serve_app(app, host=host, port=port, workers=workers, post_fork=dispose_after_fork,
              on_ready=on_ready)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--instance", default=Path("instance/demo"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the demo's env file (secrets) and SQLite database.")
@click.option("--reset", is_flag=True, help="Delete the demo's database and secrets first.")
@click.option("--no-serve", is_flag=True, help="Set up and seed, print the accounts, exit.")
@click.option("--workers", default=2, type=int, show_default=True)
@click.option("--tenant", "tenants", multiple=True, metavar="SLUG",
              help="Seed this demo tenant (repeat; default: dadukou and jiulongpo; also "
                   "tongguan).")
@click.option("--small", is_flag=True, help="Smaller branches: a fast demo (tests).")
@click.option("--node-id", default=None, help="NODE_NODE_ID (default: node-demo).")
@click.option("--bus-url", default=None, help="NODE_BUS_URL, e.g. embedded:///abs/bus.sqlite3.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the tenants, accounts and URLs as JSON to this file.")
@click.option("--cross-node-transfers", is_flag=True,
              help="Only send the demo's transfer letters to the other node (once the hub's "
                   "directory names it), then exit (`partynet demo` runs it).")
def demo_command(host: str, port: int, instance: Path, reset: bool, no_serve: bool,
                 workers: int, tenants: tuple[str, ...], small: bool, node_id: str | None,
                 bus_url: str | None, summary_file: Path | None,
                 cross_node_transfers: bool = False) -> None:
    """Set up a demo node (SQLite, two tenants, realistic data) and serve it."""
    import json
    import time

    from node import demo

    if cross_node_transfers:
        os.environ.update(demo.prepare_instance(instance, base_url=f"http://{host}:{port}",
                                                settings={}))
        make_app()
        click.echo(f"sent {demo.seed_cross_node_transfers(lambda line: click.echo(line))}")
        return

    unknown = [slug for slug in tenants if slug not in demo.ALL_TENANTS]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: the demo tenants are "
                                 f"{', '.join(demo.ALL_TENANTS)}", param_hint="--tenant")
    specs = tuple(demo.ALL_TENANTS[slug] for slug in tenants) or demo.TENANTS
    settings = {"NODE_SIGNING_KEY_FILE": str(instance.resolve() / "node-signing.key")}
    if node_id:
        settings["NODE_NODE_ID"] = node_id
    if bus_url:
        settings["NODE_BUS_URL"] = bus_url
    base_url = f"http://{host}:{port}"
    if not no_serve:  # members pay dues online through the sandbox provider
        settings.update(demo.start_pay_sandbox(instance.resolve(), host))
    os.environ.update(demo.prepare_instance(instance, base_url=base_url, reset=reset,
                                            settings=settings))
    app = make_app()
    started = time.monotonic()
    summaries = demo.setup_database(instance, log=lambda line: click.echo(line, err=True),
                                    tenants=specs, scale=0.2 if small else 1.0)
    if summary_file is not None:
        summary = demo.summary_json(app, summaries, base_url=base_url,
                                    node_id=app.extensions["node"].node_id)
        summary_file.write_text(json.dumps(summary, ensure_ascii=False, indent=1),
                                encoding="utf-8")
    text = demo.banner(app, summaries, base_url=base_url, instance=instance,
                       seconds=time.monotonic() - started, serving=not no_serve)
    if no_serve:
        click.echo(text)
        return
    run_gunicorn(app, host=host, port=port, workers=workers, on_ready=lambda: click.echo(text))


cli.add_command(client_group)
cli.add_command(members_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(stats_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(directives_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(identity_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(dues_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(floating_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(reports_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(transfers_group(make_app=make_app, on_domain_error=fail_on_domain_error))
cli.add_command(directory_group(make_app=make_app, on_domain_error=fail_on_domain_error))
_bus = bus_group(make_app=make_app, on_domain_error=fail_on_domain_error)
cli.add_command(_bus)
#: `partynet node relay` and `partynet node consume`: short names of the bus workers.
cli.add_command(_bus.commands["relay"], "relay")
cli.add_command(_bus.commands["consume"], "consume")
