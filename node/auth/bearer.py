"""Authenticates API requests by bearer token and sets the request's tenant and principal.

Secure by default (shared.web.bearer): every /api endpoint needs a token unless listed in
PUBLIC_ENDPOINTS; reads need the `read` scope, everything else `write`.
"""

from __future__ import annotations

from flask import Flask, request

from node.audit.recording import set_remote_addr
from node.auth.principal import set_principal
from node.auth.services import principal_for_access_token
from node.tenants.scoping import clear_tenant, set_tenant
from shared.web.bearer import ALWAYS_PUBLIC, authenticate

PUBLIC_ENDPOINTS = ALWAYS_PUBLIC | {
    "dues.Callback",  # a payment provider's callback: its signature is the proof
}



def authenticate_api_request() -> None:
    principal = authenticate(principal_for_access_token, public=PUBLIC_ENDPOINTS,
                             realm="partynet")
    if principal is not None:
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
