"""`partynet node reports generate --month YYYY-MM [--tenant SLUG] [--org CODE] [--force]`,
and the relay's monthly job: every member's report once a month has ended."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import click

from node.db import db
from node.reports import services
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug, list_tenants
from shared.db.session import transaction

#: How often the relay checks whether last month still needs its reports.
CHECK_INTERVAL = 3600.0


def reports_group(*, make_app: Callable[[], object],
                  on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("reports")
    def group() -> None:
        """The members' monthly affairs reports (meetings, dues, directives)."""

    @group.command("generate")
    @click.option("--month", "month_text", default=None,
                  help="The month, YYYY-MM (default: last month). It must have ended.")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @click.option("--org", "org_code", default=None,
                  help="Only this organization's subtree (with --tenant).")
    @click.option("--force", is_flag=True,
                  help="Replace the reports already stored for the month.")
    @on_domain_error
    def generate(month_text: str | None, tenant_slug: str | None, org_code: str | None,
                 force: bool) -> None:
        """Store the month's report of every party member; members who have one keep it."""
        make_app()
        if org_code and not tenant_slug:
            raise click.UsageError("--org needs --tenant.")
        month = services.parse_month(month_text) if month_text else services.last_ended_month()
        for slug, done in generate_all(month, tenant_slug, org_code=org_code, force=force):
            click.echo(f"{slug}: {done.month:%Y-%m}: {done.generated} generated, "
                       f"{done.skipped} kept, {done.replaced} replaced")

    return group


def generate_all(month: dt.date, tenant_slug: str | None = None, *, org_code: str | None = None,
                 force: bool = False, only_missing: bool = False
                 ) -> list[tuple[str, services.Generated]]:
    """One transaction per tenant: one tenant's failure does not hold back the others."""
    with transaction(db):
        tenants = [get_tenant_by_slug(tenant_slug)] if tenant_slug else list(list_tenants())
    done = []
    for tenant in tenants:
        with transaction(db), tenant_context(tenant.id):
            if only_missing and services.already_generated(month):
                continue
            org = services.org_by_code(org_code) if org_code else None
            done.append((tenant.slug, services.generate(tenant, month, org=org, force=force)))
    return done


def reports_job(stop: threading.Event, interval: float = CHECK_INTERVAL) -> None:
    """The relay's job: last month's reports for every tenant that has none yet, checked now
    and every `interval` seconds (so the first hours of a month produce them once)."""
    while not stop.is_set():
        try:
            generate_all(services.last_ended_month(), only_missing=True)
        except Exception:  # never stop the relay over it; try next time
            logging.getLogger("partynet").exception("monthly reports not generated")
        stop.wait(interval)
