"""The hub's OAuth 2 endpoints: /oauth/authorize (a signed-in hub account approves a client),
/oauth/token and /oauth/revoke (RFC 6749 and RFC 7009 JSON, outside flask-smorest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub.accounts.services import throttle
from hub.auth.oauth import HubAuthorizationServer, authorization_server
from hub.auth.session import csrf_valid, current_hub_account
from hub.console.web import form_expired
from hub.db import db
from hub.settings import HubSettings
from shared.db import transaction
from shared.web.oauth import (
    AppAuthorizationServer,
    Client,
    client_endpoint,
    revocation_response,
    token_response,
)
from shared.web.pages import page_error

blp = Blueprint("hub_oauth", __name__)

SCOPE_DESCRIPTIONS = {
    "read": _l("Read what your hub role lets you see."),
    "write": _l("Change things on your behalf, within your hub role."),
}


@blp.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _authorize_error(server: HubAuthorizationServer, error: OAuth2Error) -> Any:
    if error.redirect_uri:  # a validated redirect URI: the client hears about it (§4.1.2.1)
        return server.handle_error_response(None, error)
    # Never redirect to an unverified URI: tell the person instead.
    return page_error(400, _("The application's request is invalid: %(reason)s.",
                             reason=error.description or error.error))


@blp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """Ask the signed-in account to approve a client; answer with a code or an error."""
    server = authorization_server()
    if request.method == "POST" and not csrf_valid():
        return form_expired()
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorize_error(server, error)
    except ValueError:
        return page_error(400, _("The application's request is malformed."))
    client: Client = grant.client
    account = current_hub_account()
    if account is None:
        if request.method == "POST":
            return page_error(403, _("Sign in to the hub to approve this application."))
        return redirect(url_for("hub_auth.login", next=request.full_path))
    if request.method == "GET":
        return render_template("auth/consent.html", client=client, account=account,
                               action=request.full_path,
                               scopes=[(s, str(SCOPE_DESCRIPTIONS.get(s, s)))
                                       for s in (grant.request.scope or "").split()])
    approved = request.form.get("decision") == "approve"
    with transaction(db):
        return server.respond(lambda s: s.create_authorization_response(
            grant_user=account if approved else None, grant=grant))


def _client_endpoint(run: Callable[[AppAuthorizationServer], Response]) -> Response:
    settings: HubSettings = current_app.extensions["hub"]
    return client_endpoint(run, throttle=throttle, max_failures=settings.login_max_failures,
                           window=settings.login_window)


@blp.post("/oauth/token")
def token() -> Response:
    return _client_endpoint(token_response())


@blp.post("/oauth/revoke")
def revoke() -> Response:
    return _client_endpoint(revocation_response())
