"""Authenticates API requests by bearer token and sets the request's tenant and principal.

Secure by default: every /api endpoint needs a token unless listed in PUBLIC_ENDPOINTS. The
OAuth scope follows the HTTP method: reads need `read`, everything else needs `write`.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, request

from node.accounts.models import Account
from node.accounts.services import load_principal
from node.audit.recording import set_remote_addr
from node.auth.models import Token, token_digest
from node.auth.principal import set_principal
from node.db import db
from node.tenants.scoping import all_tenants, clear_tenant, set_tenant
from shared.errors import Forbidden, Unauthorized

PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json", "api-docs.openapi_redoc",
                              "api-docs.openapi_swagger_ui", "meta.Version", "meta.healthz",
                              "meta.readyz", "vendor"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="partynet"'}


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_api_request() -> None:
    if not request.path.startswith("/api/") or request.endpoint in PUBLIC_ENDPOINTS:
        return
    if request.endpoint is None:  # unknown route: let the 404/405 handler answer
        return
    raw = _bearer()
    if raw is None:
        raise Unauthorized("Send an OAuth 2 bearer token.", headers=_CHALLENGE)
    with all_tenants():
        token = db.session.scalar(sa.select(Token).where(
            Token.access_token_hash == token_digest(raw)))
    if token is None or not token.is_usable():
        raise Unauthorized("The token is invalid, expired or revoked.",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    set_tenant(token.tenant_id)
    account = db.session.get(Account, token.account_id)
    if account is None or not account.is_active:
        raise Unauthorized("The account is disabled.",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    scopes = frozenset(token.scope.split())
    needed = "read" if request.method in READ_METHODS else "write"
    if needed not in scopes:
        raise Forbidden(f"The token lacks the '{needed}' scope.",
                        headers={"WWW-Authenticate":
                                 f'Bearer error="insufficient_scope" scope="{needed}"'})
    set_principal(load_principal(account, scopes))


def _reset_context(_exc: BaseException | None = None) -> None:
    set_principal(None)
    clear_tenant()
    set_remote_addr(None)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        _reset_context()
        set_remote_addr(request.remote_addr)
        authenticate_api_request()

    app.teardown_request(_reset_context)
