"""Browser sign-in per tenant and the OAuth 2 endpoints (/oauth/authorize, token, revoke).

Pages answer with readable HTML, never problem+json; OAuth endpoints answer in RFC 6749 form.
The browser session is Flask's signed cookie holding the account and tenant ids; every form
carries a per-session CSRF token (`node.web.session`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.accounts.services import authenticate, set_account_locale, throttle
from node.audit.recording import acting_as
from node.auth import oauth
from node.auth.oauth import NodeAuthorizationServer, authorization_server
from node.db import db
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.web import i18n
from node.web.responses import page_error
from node.web.session import (
    csrf_valid,
    current_session_account,
    end_session,
    start_session,
)
from node.web.tenancy import show_tenant, signed_in_here, tenant_route, tenant_url
from shared.db import transaction
from shared.errors import TooManyAttempts
from shared.web.oauth import (
    AppAuthorizationServer,
    client_endpoint,
    revocation_response,
    token_response,
)
from shared.web.session import safe_next

__all__ = ["blp", "current_session_account"]

blp = Blueprint("auth", __name__)

SCOPE_DESCRIPTIONS = {
    "read": _l("Read the records your roles let you see."),
    "write": _l("Change records on your behalf, within your roles."),
}
#: Longer sign-in input is refused unread (usernames are at most 60 characters).
MAX_USERNAME = 60
MAX_PASSWORD = 1024


def _settings() -> NodeSettings:
    settings: NodeSettings = current_app.extensions["node"]
    return settings


def form_expired() -> Any:
    return page_error(400, _("The form has expired. Go back, reload the page and try again."))


@blp.after_request
def _no_store(response: Response) -> Response:
    # Token and revocation answers (JSON) too: never cached. Pages get theirs in node.web.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


_safe_next = safe_next


@tenant_route(blp, "/login", methods=["GET", "POST"])
def login(tenant: Tenant) -> Any:
    next_url = _safe_next(request.values.get("next"))
    signed_in = signed_in_here()

    def page(error: str | None = None, status: int = 200, **headers: str) -> Any:
        return render_template("auth/login.html", tenant=tenant, next_url=next_url, error=error,
                               signed_in=signed_in,
                               username=request.form.get("username", "")[:MAX_USERNAME]
                               ), status, headers

    if request.method == "GET":
        return page()
    if not csrf_valid():
        return form_expired()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not (username and password):
        return page(_("Enter your username and password."), 400)
    if (len(username) > MAX_USERNAME or not username.isprintable()
            or len(password) > MAX_PASSWORD):
        return page(_("Wrong username or password."))
    settings = _settings()
    chosen = i18n.explicit_language()
    try:
        with tenant_context(tenant.id), acting_as(f"login:{username}"), transaction(db):
            account = authenticate(tenant_id=tenant.id, username=username, password=password,
                                   remote_addr=request.remote_addr,
                                   max_failures=settings.login_max_failures,
                                   window=settings.login_window)
            if account is not None and chosen:
                set_account_locale(account, chosen)  # the language of its emails, too
    except TooManyAttempts as exc:
        return page(_("Too many failed sign-in attempts. Wait a while and try again."), 429,
                    **exc.headers)
    if account is None:
        return page(_("Wrong username or password."))
    start_session(account)
    return redirect(next_url or tenant_url("auth.login"), 303)


@blp.post("/logout")
def logout() -> Any:
    if not csrf_valid():
        return form_expired()
    tenant_id = end_session()
    next_url = _safe_next(request.values.get("next"))
    if next_url is None and tenant_id is not None:
        with all_tenants():
            tenant = db.session.get(Tenant, tenant_id)
        next_url = url_for("auth.login", slug=tenant.slug) if tenant is not None else None
    if next_url is None:
        return render_template("auth/signed_out.html")
    return redirect(next_url, 303)


# --- OAuth 2 ---------------------------------------------------------------------------------

def _authorize_error(server: NodeAuthorizationServer, error: OAuth2Error) -> Any:
    if error.redirect_uri:  # a validated redirect URI: the client hears about it (§4.1.2.1)
        return server.handle_error_response(None, error)
    # Never redirect to an unverified URI: tell the person instead.
    return page_error(400, _("The application's request is invalid: %(reason)s.",
                             reason=error.description or error.error))


@blp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """Ask the signed-in person to approve a client; answer with a code or an error."""
    server = authorization_server()
    if request.method == "POST" and not csrf_valid():
        return form_expired()
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorize_error(server, error)
    except ValueError:
        return page_error(400, _("The application's request is malformed."))
    client: oauth.Client = grant.client
    tenant_id = client.row.tenant_id
    with all_tenants():
        tenant = db.session.get(Tenant, tenant_id)
    assert tenant is not None
    account = current_session_account()
    if account is None or account.tenant_id != tenant_id:
        if request.method == "POST":
            return page_error(403, _("Sign in to %(name)s to approve this application.",
                                     name=tenant.name))
        return redirect(url_for("auth.login", slug=tenant.slug, next=request.full_path))
    show_tenant(tenant)
    if request.method == "GET":
        return render_template("auth/consent.html", client=client, tenant=tenant,
                               account=account, action=request.full_path,
                               scopes=[(s, str(SCOPE_DESCRIPTIONS.get(s, s)))
                                       for s in (grant.request.scope or "").split()])
    approved = request.form.get("decision") == "approve"
    with acting_as(f"oauth:{account.username}"), transaction(db):
        return server.respond(lambda s: s.create_authorization_response(
            grant_user=account if approved else None, grant=grant))


def _client_endpoint(run: Callable[[AppAuthorizationServer], Response]) -> Response:
    """Token and revocation: throttled per client and address, one transaction."""
    settings = _settings()
    return client_endpoint(run, throttle=throttle, max_failures=settings.login_max_failures,
                           window=settings.login_window)


@blp.post("/oauth/token")
def token() -> Response:
    return _client_endpoint(token_response())


@blp.post("/oauth/revoke")
def revoke() -> Response:
    return _client_endpoint(revocation_response())
