"""`partynet node identity sync [--tenant SLUG]`: send the hub the whole identity index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from node.db import db
from node.identity import services
from node.tenants.services import get_tenant_by_slug, list_tenants
from shared.db.session import transaction


def identity_group(*, make_app: Callable[[], object],
                   on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("identity")
    def group() -> None:
        """The identity index for duplicate detection (keyed hashes only, never IDs)."""

    @group.command("sync")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @on_domain_error
    def sync(tenant_slug: str | None) -> None:
        """Queue a full resync of each tenant's index; the relay sends it to the hub."""
        make_app()
        for done in sync_all(tenant_slug):
            click.echo(f"{done.tenant}: {done.entries} entries queued "
                       f"({len(done.message_ids)} messages)")

    return group


def sync_all(tenant_slug: str | None) -> list[services.Resynced]:
    """One transaction per tenant: each tenant's chunks go all together or not at all."""
    with transaction(db):
        tenants = [get_tenant_by_slug(tenant_slug)] if tenant_slug else list(list_tenants())
    done = []
    for tenant in tenants:
        with transaction(db):
            done.append(services.resync(tenant))
    return done
