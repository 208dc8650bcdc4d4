"""The hub's OAuth 2 authorization server: the shared authlib glue (`shared.web.oauth`) bound
to the hub's tables and accounts.

Authorization code with S256 PKCE (an administrator's tool acting for a signed-in account),
client credentials (a script acting as the client's service account, with its own hub role),
refresh with rotation and RFC 7009 revocation.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from hub.accounts.models import HubAccount
from hub.accounts.services import active_account
from hub.auth.models import HubAuthorizationCode, HubOAuthClient, HubToken
from hub.db import db
from hub.settings import HubSettings
from shared.web.oauth import SCOPES, AppAuthorizationServer, Client, current_server, install


class HubAuthorizationServer(AppAuthorizationServer):
    client_model = HubOAuthClient
    code_model = HubAuthorizationCode
    token_model = HubToken

    def __init__(self) -> None:
        super().__init__(db)

    def grant_user(self, row: Any) -> HubAccount | None:
        return active_account(row.account_id)

    def service_user(self, client: Client) -> HubAccount | None:
        account_id = client.row.service_account_id
        return active_account(account_id, service=True) if account_id is not None else None


def init_app(app: Flask, settings: HubSettings) -> HubAuthorizationServer:
    server = HubAuthorizationServer()
    install(app, server, access_token_ttl=settings.access_token_ttl, scopes=SCOPES)
    return server


def authorization_server() -> HubAuthorizationServer:
    server = current_server()
    assert isinstance(server, HubAuthorizationServer)
    return server
