"""`partynet node directory list`: the tenant directory this node holds from the hub, i.e.
where a transfer can go and which key each node's steps are sealed to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from federation.keys import format_time
from node.db import db
from node.directory import services


def directory_group(*, make_app: Callable[[], object],
                    on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("directory")
    def group() -> None:
        """The network's tenant directory, as the hub last sent it."""

    @group.command("list")
    @on_domain_error
    def list_() -> None:
        """Version, nodes with their key ids, and every tenant with its node and region."""
        make_app()
        session = db.session()
        state = services.held_version(session)
        if state is None:
            click.echo("no directory yet: the hub sends it once this node is enrolled and its "
                       "bus worker runs")
            return
        click.echo(f"version {state.version} issued {format_time(state.issued_at)}")
        for node in services.nodes(session):
            click.echo(f"node {node.node} key {node.key_id} "
                       f"valid until {format_time(node.valid_until)}")
        for place in services.known_tenants(session):
            click.echo(f"tenant {place.node}/{place.slug} {place.region_code} "
                       f"{place.code_prefix} {place.name}")

    return group
