"""Authenticates API requests by bearer token and sets the request's tenant and principal.

Secure by default: every /api endpoint needs a token unless listed in PUBLIC_ENDPOINTS. The
OAuth scope follows the HTTP method: reads need `read`, everything else needs `write`.
"""

from __future__ import annotations

from flask import Flask, request

from node.audit.recording import set_remote_addr
from node.auth.principal import set_principal
from node.auth.services import principal_for_access_token
from node.tenants.scoping import clear_tenant, set_tenant
from shared.errors import Forbidden, Unauthorized

PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json", "api-docs.openapi_redoc",
                              "api-docs.openapi_swagger_ui", "meta.Version", "meta.healthz",
                              "meta.readyz", "vendor",
                              # a payment provider's callback: its signature is the proof
                              "dues.Callback"})
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
    principal = principal_for_access_token(raw)
    if principal is None:
        raise Unauthorized("The token is invalid, expired or revoked, or its account disabled.",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    needed = "read" if request.method in READ_METHODS else "write"
    if needed not in principal.scopes:
        raise Forbidden(f"The token lacks the '{needed}' scope.",
                        headers={"WWW-Authenticate":
                                 f'Bearer error="insufficient_scope" scope="{needed}"'})
    set_tenant(principal.tenant_id)
    set_principal(principal)


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
