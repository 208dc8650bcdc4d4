"""`partynet node directives report [--tenant SLUG] [--all]`: send the hub the read and
completion counts of the directives it sent (counts only), and the relay's periodic job."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import click

from node.db import db
from node.directives import services
from shared.db.session import transaction


def directives_group(*, make_app: Callable[[], object],
                     on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("directives")
    def group() -> None:
        """Directives and study items from the hub, and their read-back."""

    @group.command("report")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @click.option("--all", "force", is_flag=True,
                  help="Every live directive, not only those whose counts changed.")
    @on_domain_error
    def report(tenant_slug: str | None, force: bool) -> None:
        """Queue receipts (targeted, read, completed) for the hub; the relay sends them."""
        make_app()
        for slug, ids in report_all(tenant_slug, force=force):
            click.echo(f"{slug}: {len(ids)} receipt(s) queued")

    return group


def report_all(tenant_slug: str | None = None, *, force: bool = False
               ) -> list[tuple[str, list[str]]]:
    """One transaction per tenant: one tenant's failure does not hold back the others."""
    with transaction(db):
        tenants = services.tenants_to_report(tenant_slug)
    done = []
    for tenant in tenants:
        with transaction(db):
            done.append((tenant.slug, services.report(tenant, force=force)))
    return done


def receipts_job(stop: threading.Event, interval: float = services.RECEIPT_INTERVAL) -> None:
    """The relay's job: changed counts to the hub now and every `interval` seconds."""
    while not stop.is_set():
        try:
            report_all()
        except Exception:  # never stop the relay over it; try next time
            logging.getLogger("partynet").exception("directive receipts not queued")
        stop.wait(interval)
