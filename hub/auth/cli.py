"""`partynet hub client create|list`: OAuth 2 clients of the hub's API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hub.accounts.models import HubRole
from hub.auth import services
from hub.db import db
from shared.db.session import transaction
from shared.web.oauth import GRANT_TYPES


def client_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
                 ) -> click.Group:
    @click.group("client")
    def group() -> None:
        """OAuth 2 clients of the hub's API."""

    @group.command("create")
    @click.option("--name", required=True, help="Shown on the consent page.")
    @click.option("--grant-type", "grant_types", multiple=True,
                  type=click.Choice(GRANT_TYPES),
                  help="Repeatable; default authorization_code (which also allows refresh).")
    @click.option("--redirect-uri", "redirect_uris", multiple=True,
                  help="Exact redirect URI (repeatable); needed for authorization_code.")
    @click.option("--public", is_flag=True,
                  help="A client that cannot keep a secret (browser or native app); PKCE only.")
    @click.option("--scope", default="read write", show_default=True)
    @click.option("--role", type=click.Choice([r.value for r in HubRole]),
                  default=HubRole.auditor.value, show_default=True,
                  help="The hub role of a client_credentials client's service account.")
    @click.option("--region", "region_prefix", default=None,
                  help="The code prefix of a region viewer service account.")
    @on_domain_error
    def create(name: str, grant_types: tuple[str, ...], redirect_uris: tuple[str, ...],
               public: bool, scope: str, role: str, region_prefix: str | None) -> None:
        """Register a client; its secret is printed once and stored only as a hash."""
        make_app()
        with transaction(db):
            issued = services.create_client(name=name, grant_types=grant_types,
                                            redirect_uris=redirect_uris, public=public,
                                            scope=scope, role=HubRole(role),
                                            region_prefix=region_prefix, created_by="cli")
        click.echo(f"client_id: {issued.client.client_id}")
        if issued.secret is not None:
            click.echo(f"client_secret: {issued.secret}")
            click.echo("Store the secret now: it is not shown again.", err=True)
        if issued.service_account is not None:
            click.echo(f"service_account: {issued.service_account.username} "
                       f"({issued.service_account.role})")

    @group.command("list")
    def list_clients() -> None:
        """Clients: id, name, kind, grant types, scope, redirect URIs."""
        make_app()
        for client in services.list_clients():
            kind = "public" if client.client_secret_hash is None else "confidential"
            state = "" if client.is_active else "\tdisabled"
            uris = " ".join(client.redirect_uris.splitlines()) or "-"
            click.echo(f"{client.client_id}\t{client.name}\t{kind}\t{client.grant_types}\t"
                       f"{client.scope}\t{uris}{state}")

    return group
