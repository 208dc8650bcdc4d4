"""`partynet node members import FILE --tenant SLUG`: the operator's bulk import, with progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.db import db
from node.grants.models import Role
from node.imports.schemas import MemberImportReportSchema
from node.imports.services import ImportReport, import_members
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug
from shared.db import transaction

#: How many row errors the summary prints; --report writes them all.
SHOWN_ERRORS = 20


def operator_principal(tenant: Tenant) -> Principal:
    """The operator acts in the tenant's root administrator scope (audited as "cli")."""
    return Principal(account_id=0, tenant_id=tenant.id, username="cli",
                     grants=((Role.tenant_admin, tenant.code_prefix),))


class _ProgressBars:
    """Click progress bars on stderr, one per phase: rows checked, then members inserted."""

    LABELS = {"validate": "Checking rows", "insert": "Inserting    "}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.phase: str | None = None
        self.position = 0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.position = phase, 0
            self.bar = click.progressbar(length=max(total or done, 1),
                                         label=self.LABELS.get(phase, phase), file=sys.stderr,
                                         show_pos=True)
            self.bar.__enter__()
        if total and total > self.bar.length:  # the row count of a file is an estimate
            self.bar.length = total
        self.bar.update(done - self.position)
        self.position = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar, self.phase = None, None


def members_group(*, make_app: Callable[[], object],
                  on_domain_error: Callable[[Any], Any]) -> click.Group:
    """The `members` group. node.cli passes in its app factory and error wrapper: importing the
    factory here would make this CLI depend on every blueprint, this feature's routes included.
    """

    @click.group("members")
    def group() -> None:
        """Members: bulk operations."""

    @group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--tenant", "tenant_slug", required=True,
                  help="Slug of the tenant to import into.")
    @click.option("--dry-run", is_flag=True, help="Only check the file; write nothing.")
    @click.option("--partial", is_flag=True,
                  help="Import the valid rows even if others have errors "
                       "(default: all or nothing).")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the full report (every row error) to this JSON file.")
    @click.option("--progress/--no-progress", default=True, help="Progress bars on stderr.")
    def import_command(file: Path, tenant_slug: str, dry_run: bool, partial: bool,
                       report_path: Path | None, progress: bool) -> None:
        """Import members from a CSV or XLSX FILE into a tenant, in one transaction.

        Exits with status 1 when nothing was imported because of row errors.
        """
        make_app()
        report = on_domain_error(_run)(file, tenant_slug, dry_run=dry_run, partial=partial,
                                       progress=progress)
        _print_summary(report)
        if report_path is not None:
            report_path.write_text(json.dumps(MemberImportReportSchema().dump(report),
                                              ensure_ascii=False, indent=2), encoding="utf-8")
            click.echo(f"report written to {report_path}")
        if report.rejected:
            raise SystemExit(1)

    return group


def _run(file: Path, tenant_slug: str, *, dry_run: bool, partial: bool,
         progress: bool) -> ImportReport:
    bars = _ProgressBars(progress)
    with acting_as("cli"), transaction(db):
        tenant = get_tenant_by_slug(tenant_slug)
        with tenant_context(tenant.id), file.open("rb") as stream:
            try:
                return import_members(operator_principal(tenant), tenant, stream,
                                      filename=file.name, dry_run=dry_run,
                                      all_or_nothing=not partial, progress=bars, max_errors=None)
            finally:
                bars.close()


def _print_summary(report: ImportReport) -> None:
    if report.dry_run:
        outcome = "dry run: nothing written"
    elif report.applied:
        outcome = (f"imported {report.created} members "
                   f"({report.first_member_number} to {report.last_member_number})")
    else:
        outcome = "nothing imported"
    click.echo(f"{outcome}; {report.total_rows} rows, {report.valid_rows} valid, "
               f"{report.error_rows} with errors "
               f"(checked in {report.validate_seconds:.1f}s, "
               f"inserted in {report.insert_seconds:.1f}s)")
    for error in report.errors[:SHOWN_ERRORS]:
        click.echo(f"  row {error.row}, {error.field or '-'}: {error.message}")
    if len(report.errors) > SHOWN_ERRORS:
        click.echo(f"  ... and {len(report.errors) - SHOWN_ERRORS} more errors (see --report)")
