"""`partynet node transfers ...`: the expiry job and the tenants' transfer rules."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click

from node.audit.recording import acting_as
from node.db import db
from node.tenants.services import get_tenant_by_slug
from node.transfers import services
from shared.db.session import transaction
from shared.jobs import repeat

#: How often the relay worker marks expired letters, in seconds.
CHECK_INTERVAL = 3600


def expire_all() -> services.Expired:
    """One transaction: every tenant's letters past their validity (running it again changes
    nothing)."""
    with acting_as("relay"), transaction(db):
        return services.expire_due()


def expiry_job(stop: threading.Event, interval: float = CHECK_INTERVAL) -> None:
    """The relay's job: `expire_all` now and every `interval` seconds."""
    repeat(expire_all, stop, interval, failure="transfer letters not expired")


def transfers_group(*, make_app: Callable[[], object],
                    on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("transfers")
    def group() -> None:
        """Transfers of the organization relationship (组织关系转接)."""

    @group.command("expire")
    @on_domain_error
    def expire() -> None:
        """Mark letters past their validity expired, on both sides (run it daily)."""
        make_app()
        done = expire_all()
        click.echo(f"expired: {done.out} sent, {done.in_} received")

    @group.command("rules")
    @click.argument("slug")
    @click.option("--validity-days", type=click.IntRange(0, services.VALIDITY_MAX.days),
                  default=None, help="Shorter validity of letters (0: the national default).")
    @click.option("--auto-approve/--no-auto-approve", default=None,
                  help="Approve each chain step as soon as it is due (demo, benchmarks).")
    @on_domain_error
    def rules(slug: str, validity_days: int | None, auto_approve: bool | None) -> None:
        """Show or set tenant SLUG's transfer rules."""
        make_app()
        with acting_as("cli"), transaction(db):
            tenant = services.configure_rules(get_tenant_by_slug(slug),
                                              validity_days=validity_days,
                                              auto_approve=auto_approve)
            shown = {key: services.tenant_rule(tenant, key) for key in services.TRANSFER_RULES}
        click.echo(" ".join(f"{key}={value}" for key, value in shown.items()))

    return group
