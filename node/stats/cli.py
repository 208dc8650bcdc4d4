"""`partynet node stats publish [--tenant SLUG]`: queue statistics snapshots for the hub."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from node.db import db
from node.stats import services
from node.tenants.services import get_tenant_by_slug, list_tenants
from shared.db.session import transaction


def stats_group(*, make_app: Callable[[], object],
                on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("stats")
    def group() -> None:
        """Statistics snapshots sent to the hub (counts only, never people)."""

    @group.command("publish")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="The snapshot date, YYYY-MM-DD (default: today, local time).")
    @on_domain_error
    def publish(tenant_slug: str | None, day: dt.datetime | None) -> None:
        """Queue today's snapshot of each tenant; the relay sends it to the hub."""
        make_app()
        today = day.date() if day else dt.date.today()
        for published in publish_all(tenant_slug, today):
            click.echo(f"{published.tenant}: snapshot {published.period} queued "
                       f"({published.orgs} organizations, {len(published.message_ids)} "
                       f"messages)")

    return group


def publish_all(tenant_slug: str | None, today: dt.date) -> list[services.Published]:
    """One transaction per tenant: a failing tenant does not hold back the others' snapshots
    already queued, and each tenant's chunks go all together or not at all."""
    with transaction(db):
        tenants = [get_tenant_by_slug(tenant_slug)] if tenant_slug else list(list_tenants())
    done = []
    for tenant in tenants:
        with transaction(db):
            done.append(services.publish_snapshot(tenant, today))
    return done
