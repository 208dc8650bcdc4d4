"""`partynet hub account create|list|set-password|deactivate`: hub accounts from the shell.

The first administrator is created here; after that, administrators also manage accounts on
the console. Passwords are prompted for (hidden, twice), never passed on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from federation.keys import format_time
from hub.accounts import services
from hub.accounts.models import HubRole
from hub.db import db
from shared.db.session import transaction


def account_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
                  ) -> click.Group:
    @click.group("account")
    def group() -> None:
        """Hub accounts: administrators, auditors, region viewers."""

    @group.command("create")
    @click.argument("username")
    @click.option("--name", "display_name", required=True, help="The person's name.")
    @click.option("--role", type=click.Choice([r.value for r in HubRole]),
                  default=HubRole.administrator.value, show_default=True)
    @click.option("--region", "region_prefix", default=None,
                  help="A region viewer's code prefix (2–12 digits).")
    @click.option("--email", default=None)
    @click.password_option(help="Prompted for when not given (hidden, twice).")
    @on_domain_error
    def create(username: str, display_name: str, role: str, region_prefix: str | None,
               email: str | None, password: str) -> None:
        """Create USERNAME (the first administrator of a new hub, or any account)."""
        make_app()
        with transaction(db):
            account = services.create_account(username=username, display_name=display_name,
                                              role=HubRole(role), password=password,
                                              email=email, region_prefix=region_prefix,
                                              created_by="cli")
        click.echo(f"created {account.username} ({account.role})")

    @group.command("list")
    def list_accounts() -> None:
        """Accounts: username, role, region, state, last sign-in."""
        make_app()
        rows = services.list_accounts()
        for row in rows:
            state = "active" if row.is_active else "deactivated"
            kind = "\tservice" if row.is_service else ""
            seen = format_time(row.last_login_at) if row.last_login_at else "never"
            click.echo(f"{row.username}\t{row.role}\t{row.region_prefix or '-'}\t{state}\t"
                       f"last sign-in {seen}{kind}")
        if not rows:
            click.echo("no accounts: create the first administrator with "
                       "`partynet hub account create USERNAME --name NAME`")

    @group.command("set-password")
    @click.argument("username")
    @click.password_option(help="Prompted for when not given (hidden, twice).")
    @on_domain_error
    def set_password(username: str, password: str) -> None:
        """Set USERNAME's password (its sessions end; its sign-in throttle is cleared)."""
        make_app()
        with transaction(db):
            services.set_password(services.get_account_by_username(username), password)
        click.echo(f"password set for {username}")

    @group.command("deactivate")
    @click.argument("username")
    @on_domain_error
    def deactivate(username: str) -> None:
        """Switch USERNAME off: its sessions and tokens stop working at once."""
        make_app()
        with transaction(db):
            services.deactivate_account(services.get_account_by_username(username))
        click.echo(f"deactivated {username}")

    return group
