"""`partynet node dues ...`: the yearly lines, closing a month, the arrears alerts (a daily or
monthly scheduled job) and the sandbox payment provider."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa

from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.db import db
from node.dues import mailing, services
from node.grants.models import Role
from node.orgs.models import Org
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug
from shared.db.session import transaction


def _operator(tenant: Any) -> Principal:
    """The node operator acting for a tenant (tenant_admin at its root)."""
    return Principal(account_id=0, tenant_id=tenant.id, username="cli",
                     grants=((Role.tenant_admin, tenant.code_prefix),))


def _org(tenant: Any, code: str | None) -> Org:
    org = db.session.scalar(sa.select(Org).where(Org.code == (code or tenant.code_prefix)))
    if org is None:
        raise click.BadParameter(f"no organization {code} in {tenant.slug}",
                                 param_hint="--org-code")
    return org


def dues_group(*, make_app: Callable[[], Any],
               on_domain_error: Callable[[Any], Any]) -> click.Group:
    @click.group("dues")
    def group() -> None:
        """Party dues: lines, closing months, arrears alerts, the sandbox provider."""

    @group.command("remind")
    @click.option("--tenant", "tenant_slug", default=None,
                  help="Only this tenant (default: every tenant of the node).")
    @click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="As if today were this day, YYYY-MM-DD (default: today, China time).")
    @on_domain_error
    def remind(tenant_slug: str | None, day: dt.datetime | None) -> None:
        """Alert members behind with their dues (and, further behind, their secretary): at
        most once per member and month, however often it runs."""
        app = make_app()
        for report in mailing.remind(app, tenant_slug, today=day.date() if day else None):
            off = " (mail is not configured: nothing sent yet)" if report.mail_off else ""
            click.echo(f"{report.tenant}: {report.reminders} reminder(s), "
                       f"{report.escalations} alert(s) to secretaries recorded; "
                       f"{report.sent} mailed, {report.no_address} without an address, "
                       f"{report.failed} failed{off}")

    @group.command("generate")
    @click.option("--tenant", "tenant_slug", required=True)
    @click.option("--year", type=int, default=None, help="Default: this year.")
    @click.option("--org-code", default=None, help="Default: the whole tenant.")
    @on_domain_error
    def generate(tenant_slug: str, year: int | None, org_code: str | None) -> None:
        """Generate the monthly lines of a year for every assessed paying member."""
        make_app()
        with transaction(db):
            tenant = get_tenant_by_slug(tenant_slug)
        with tenant_context(tenant.id), acting_as("cli"), transaction(db):
            done = services.generate(_operator(tenant), _org(tenant, org_code), tenant,
                                     year=year or services.local_today().year)
        click.echo(f"{tenant.slug}: {done.created} line(s) created, {done.unassessed} paying "
                   f"member(s) without an assessment, {done.rehomed} moved")

    @group.command("close")
    @click.option("--tenant", "tenant_slug", required=True)
    @click.option("--month", required=True, help="YYYY-MM")
    @click.option("--org-code", default=None, help="Default: the whole tenant.")
    @on_domain_error
    def close(tenant_slug: str, month: str, org_code: str | None) -> None:
        """Close a month for every branch of a subtree."""
        make_app()
        with transaction(db):
            tenant = get_tenant_by_slug(tenant_slug)
        with tenant_context(tenant.id), acting_as("cli"), transaction(db):
            done = services.close_month(_operator(tenant), _org(tenant, org_code),
                                        month=services.parse_month(month))
        click.echo(f"{tenant.slug}: {done.closed} branch(es) closed {month}, "
                   f"{done.already} already closed")

    @group.command("sandbox")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5100, type=int, show_default=True)
    def sandbox(host: str, port: int) -> None:
        """Serve the sandbox payment provider (secret: NODE_PAY_SANDBOX_SECRET)."""
        from node.dues.providers.sandbox import create_sandbox_app
        from node.settings import NodeSettings

        secret = NodeSettings.from_env().pay_sandbox_secret
        if len(secret) < 16:
            raise click.UsageError("set NODE_PAY_SANDBOX_SECRET (16 characters or more)")
        from werkzeug.serving import run_simple

        run_simple(host, port, create_sandbox_app(secret), threaded=True)

    return group
