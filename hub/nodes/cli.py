"""`partynet hub enroll-token ...` and `partynet hub node ...`: the hub administrator's side of
enrollment. Each command is thin: parse, one transaction, a service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from federation.keys import format_time
from hub.db import db
from hub.nodes import services
from hub.nodes.models import NodeStatus
from shared.db.session import transaction


def token_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
                ) -> click.Group:
    @click.group("enroll-token")
    def group() -> None:
        """One-time enrollment tokens for node operators."""

    @group.command("create")
    @click.option("--node-id", required=True, help="The node's party id (its NODE_NODE_ID).")
    @click.option("--prefix", "prefixes", multiple=True, required=True,
                  help="A code prefix the node's tenants may be registered under (repeat).")
    @click.option("--region", default=None,
                  help="6-digit GB/T 2260 region for its tenants (default: from each prefix).")
    @click.option("--name", default=None, help="The node's name in the registry.")
    @click.option("--ttl-days", type=click.FloatRange(min=0.01, max=90), default=None,
                  help="Validity in days (default: HUB_ENROLLMENT_TOKEN_TTL).")
    @click.option("--by", required=True, help="Who issues the token (recorded).")
    @on_domain_error
    def create(node_id: str, prefixes: tuple[str, ...], region: str | None, name: str | None,
               ttl_days: float | None, by: str) -> None:
        """Issue a one-time token for NODE_ID; it is printed once and stored only as a hash."""
        settings = make_app().extensions["hub"]
        ttl = (dt.timedelta(days=ttl_days) if ttl_days is not None
               else dt.timedelta(seconds=settings.enrollment_token_ttl))
        with transaction(db):
            token, text = services.issue_token(node_id=node_id, allowed_prefixes=prefixes,
                                               region=region, node_name=name, ttl=ttl,
                                               created_by=by)
        click.echo(text)
        click.echo(f"token {token.id} for node {token.node_id}, prefixes "
                   f"{','.join(token.allowed_prefixes)}, expires {format_time(token.expires_at)}"
                   f" (shown once)", err=True)
        click.echo(f"the node operator runs: partynet node bus enroll --hub {settings.base_url} "
                   f"--token <token>", err=True)

    @group.command("list")
    @click.option("--all", "include_used", is_flag=True, help="Include used tokens.")
    def list_tokens(include_used: bool) -> None:
        """Tokens not yet used (the tokens themselves are not kept)."""
        make_app()
        rows = services.list_tokens(include_used=include_used)
        for row in rows:
            state = services.token_state(row)
            used = format_time(row.used_at) if row.used_at else state
            click.echo(f"{row.id}\t{row.node_id}\t{','.join(row.allowed_prefixes)}\t"
                       f"expires {format_time(row.expires_at)}\t{used}\tby {row.created_by}")
        if not rows:
            click.echo("no tokens")

    return group


def node_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
               ) -> click.Group:
    @click.group("node")
    def group() -> None:
        """The registry of enrolled nodes."""

    @group.command("list")
    @click.option("--status", type=click.Choice([s.value for s in NodeStatus]), default=None)
    def list_nodes(status: str | None) -> None:
        """Nodes with their tenants and their last heartbeat."""
        make_app()
        rows = services.list_nodes(status=NodeStatus(status) if status else None)
        for node in rows:
            seen = format_time(node.last_seen_at) if node.last_seen_at else "never seen"
            tenants = ",".join(f"{t.slug}:{t.code_prefix}"
                               for t in services.node_tenants(node.id)) or "-"
            click.echo(f"{node.id}\t{node.status}\t{tenants}\t{seen}\t"
                       f"version {node.version or '-'}\tbacklog {node.backlog or 0}\t"
                       f"lag {node.lag_seconds or 0} s")
        if not rows:
            click.echo("no nodes")

    @group.command("silent")
    @click.option("--after", "after_seconds", type=click.IntRange(min=1), default=None,
                  help="Seconds without a heartbeat (default: HUB_SILENT_AFTER).")
    def silent(after_seconds: int | None) -> None:
        """Active nodes not heard from for too long (exit status 1 when there are any)."""
        settings = make_app().extensions["hub"]
        after = dt.timedelta(seconds=after_seconds or settings.silent_after)
        rows = services.silent_nodes(after)
        for node in rows:
            seen = format_time(node.last_seen_at) if node.last_seen_at else "never seen"
            click.echo(f"{node.id}\t{node.name}\t{seen}\tversion {node.version or '-'}")
        if not rows:
            click.echo(f"no node silent for more than {int(after.total_seconds())} s")
            return
        raise SystemExit(1)

    @group.command("revoke")
    @click.argument("node_id")
    @click.option("--by", required=True, help="Who decides (recorded).")
    @on_domain_error
    def revoke(node_id: str, by: str) -> None:
        """Revoke NODE_ID: every key of it is refused from now on, and every node is told."""
        make_app()
        with transaction(db):
            services.revoke_node(node_id, by=by)
        click.echo(f"revoked {node_id}")

    return group
