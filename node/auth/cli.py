"""`partynet node client ...`: register and list a tenant's OAuth clients."""

from __future__ import annotations

import click

from shared.web.oauth import GRANT_TYPES


@click.group("client")
def client_group() -> None:
    """OAuth 2 clients of a tenant (API access)."""


@client_group.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="Slug of the client's tenant.")
@click.option("--name", required=True, help="Shown to people on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Exact redirect URI (repeatable); needed for authorization_code.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES),
              help="Repeatable; default authorization_code (which also allows refresh).")
@click.option("--public", is_flag=True,
              help="A client that cannot keep a secret (browser or native app); PKCE only.")
@click.option("--scope", default="read write", show_default=True,
              help="Space-separated scopes the client may ask for.")
@click.option("--service-account", default=None, metavar="USERNAME",
              help="Existing service account a client_credentials client acts as "
                   "(default: a new one, with no grants).")
def client_create(tenant_slug: str, name: str, redirect_uris: tuple[str, ...],
                  grant_types: tuple[str, ...], public: bool, scope: str,
                  service_account: str | None) -> None:
    """Register a client; its secret is printed once and stored only as a hash."""
    from node.audit.recording import acting_as
    from node.auth.services import create_client
    from node.cli import fail_on_domain_error, make_app
    from node.db import db
    from node.tenants.services import get_tenant_by_slug
    from shared.db import transaction

    @fail_on_domain_error
    def run() -> None:
        make_app()
        with acting_as("cli"), transaction(db):
            issued = create_client(tenant=get_tenant_by_slug(tenant_slug), name=name,
                                   redirect_uris=redirect_uris, grant_types=grant_types,
                                   public=public, scope=scope, service_account=service_account)
        client = issued.client
        click.echo(f"client_id: {client.client_id}")
        if issued.secret is not None:
            click.echo(f"client_secret: {issued.secret}")
            click.echo("Store the secret now: it is not shown again.", err=True)
        if issued.service_account is not None:
            click.echo(f"service_account: {issued.service_account.username}")

    run()


@client_group.command("list")
@click.option("--tenant", "tenant_slug", required=True, help="Slug of the tenant.")
def client_list(tenant_slug: str) -> None:
    """List a tenant's clients: id, name, kind, grant types, scope, redirect URIs."""
    from node.auth.services import list_clients
    from node.cli import fail_on_domain_error, make_app
    from node.tenants.services import get_tenant_by_slug

    @fail_on_domain_error
    def run() -> None:
        make_app()
        for client in list_clients(get_tenant_by_slug(tenant_slug)):
            kind = "public" if client.client_secret_hash is None else "confidential"
            state = "" if client.is_active else "\tdisabled"
            uris = " ".join(client.redirect_uris.splitlines()) or "-"
            click.echo(f"{client.client_id}\t{client.name}\t{kind}\t{client.grant_types}\t"
                       f"{client.scope}\t{uris}{state}")

    run()
