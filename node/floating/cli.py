"""`partynet node floating ...`: ending floating certificates whose validity has passed (the
relay worker does it hourly, `expiry_job`; the command is for cron or by hand)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import click

from node.audit.recording import acting_as
from node.db import db
from node.floating import services
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug, list_tenants
from shared.db.session import transaction
from shared.jobs import repeat

#: How often the relay worker ends the certificates whose validity has passed.
CHECK_INTERVAL = 3600.0


def expire_all(today: dt.date | None = None, tenant_slug: str | None = None
               ) -> list[tuple[str, int]]:
    """One transaction per tenant; returns (tenant slug, certificates ended)."""
    with transaction(db):
        tenants = [get_tenant_by_slug(tenant_slug)] if tenant_slug else list(list_tenants())
    done = []
    for tenant in tenants:
        with transaction(db), tenant_context(tenant.id), acting_as("cli:floating-expire"):
            done.append((tenant.slug, services.end_expired(today)))
    return done


def expiry_job(stop: threading.Event, interval: float = CHECK_INTERVAL) -> None:
    """The relay's job: end expired certificates now and every `interval` seconds (the same
    as `partynet node floating expire`; running it again changes nothing)."""
    repeat(expire_all, stop, interval, failure="floating certificates not expired")


def floating_group(*, make_app: Callable[[], Any],
                   on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("floating")
    def group() -> None:
        """Floating members (流动党员): certificates and their expiry."""

    @group.command("expire")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="As if today were this day, YYYY-MM-DD (default: today, China time).")
    @on_domain_error
    def expire(tenant_slug: str | None, day: dt.datetime | None) -> None:
        """End the certificates whose validity has passed; the members are active at home
        again. Running it twice changes nothing."""
        make_app()
        for slug, ended in expire_all(day.date() if day else None, tenant_slug):
            click.echo(f"{slug}: {ended} floating certificate(s) ended")

    return group
