"""The node's OAuth 2 authorization server: the shared authlib glue (`shared.web.oauth`) bound
to the node's tables, with every client, code and token bound to its client's tenant.

Grants: authorization code with mandatory S256 PKCE, client credentials (the client acts as
its service account of the same tenant), refresh with rotation; RFC 7009 revocation.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from flask import Flask

from node.accounts.models import Account
from node.auth.models import AuthorizationCode, OAuthClient, Token
from node.db import db
from node.settings import NodeSettings
from node.tenants.scoping import tenant_context
from shared.web.oauth import (
    SCOPES,
    AppAuthorizationServer,
    Client,
    Revocation,
    client_auth_failed,
    current_server,
    install,
    requesting_client_id,
)

__all__ = ["Client", "NodeAuthorizationServer", "Revocation", "authorization_server",
           "client_auth_failed", "init_app", "load_user", "requesting_client_id"]


def load_user(tenant_id: int, account_id: int | None, *, service: bool = False) -> Account | None:
    """The active account a grant acts for, only if it belongs to the tenant."""
    if account_id is None:
        return None
    with tenant_context(tenant_id):
        account = db.session.get(Account, account_id)
    if (account is None or account.tenant_id != tenant_id or not account.is_active
            or account.is_service != service):
        return None
    return account


class NodeAuthorizationServer(AppAuthorizationServer):
    client_model = OAuthClient
    code_model = AuthorizationCode
    token_model = Token

    def __init__(self, settings: NodeSettings) -> None:
        super().__init__(db)
        self.settings = settings

    def owner_fields(self, client: Client) -> dict[str, Any]:
        return {"tenant_id": client.row.tenant_id}

    def grant_user(self, row: Any) -> Account | None:
        return load_user(row.tenant_id, row.account_id)

    def service_user(self, client: Client) -> Account | None:
        return load_user(client.row.tenant_id, client.row.service_account_id, service=True)

    def check_user(self, client: Client, user: Any | None) -> Account:
        if user is None or user.tenant_id != client.row.tenant_id:
            raise InvalidGrantError("The account does not belong to this client's tenant.")
        account: Account = user
        return account


def init_app(app: Flask, settings: NodeSettings) -> NodeAuthorizationServer:
    server = NodeAuthorizationServer(settings)
    install(app, server, access_token_ttl=settings.access_token_ttl, scopes=SCOPES)
    return server


def authorization_server() -> NodeAuthorizationServer:
    server = current_server()
    assert isinstance(server, NodeAuthorizationServer)
    return server
