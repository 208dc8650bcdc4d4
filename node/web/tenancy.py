"""Which tenant a page belongs to: by the request's host name, or by `/t/<slug>/` in the path.

A tenant may have host names of its own (`partynet node tenant set-host`); every page is also
reachable under `/t/<slug>/` on any host, for installs with one host name for all tenants.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, request, session, url_for
from flask_babel import gettext as _

from node.accounts.models import Account
from node.accounts.services import set_account_locale
from node.audit.recording import acting_as
from node.db import db
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import set_tenant
from node.tenants.services import SLUG_RE, get_tenant_by_host, get_tenant_by_slug
from node.web import i18n
from node.web.responses import page_error
from node.web.session import current_session_account
from shared.db import transaction
from shared.errors import NotFound


def request_host() -> str:
    """The host name the browser asked for: lowercase, without port or final dot."""
    host = request.host.lower()
    if host.startswith("["):  # an IPv6 literal
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0].rstrip(".")


def is_node_host() -> bool:
    """Whether the request is for the node's own host name (from NODE_BASE_URL)."""
    settings: NodeSettings = current_app.extensions["node"]
    return request_host() == (urlsplit(settings.base_url).hostname or "").lower()


def tenant_by_slug(slug: str) -> Tenant | None:
    if not SLUG_RE.match(slug):  # odd bytes never reach the database
        return None
    try:
        return get_tenant_by_slug(slug)
    except NotFound:
        return None


def tenant_for_request(slug: str | None) -> Tenant | None:
    if slug is not None:
        return tenant_by_slug(slug)
    host = request_host()
    return get_tenant_by_host(host) if 0 < len(host) <= 255 else None


def enter_tenant(tenant: Tenant, *, via_path: bool) -> None:
    """Make `tenant` the page's tenant: data queries, links and the header follow it."""
    set_tenant(tenant.id)
    show_tenant(tenant, via_path=via_path)


def show_tenant(tenant: Tenant, *, via_path: bool = True) -> None:
    """Show the page in `tenant`'s colours (header, links) without entering its data."""
    g.tenant, g.tenant_via_path = tenant, via_path
    current_session_account()  # a signed-in account's language applies from the first string


def signed_in_here() -> Account | None:
    """The session's account if it belongs to this page's tenant."""
    account = current_session_account()
    tenant = g.get("tenant")
    if account is None or tenant is None or account.tenant_id != tenant.id:
        return None
    return account


def no_such_tenant() -> Any:
    return page_error(404, _("There is no organization at this address."))


def tenant_route(blueprint: Blueprint, rule: str, *,
                 node_page: Callable[[], Any] | None = None, read_only: bool = False,
                 **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a tenant page at `rule` on the tenant's hosts and at `/t/<slug>{rule}`.

    The view is called with the tenant first. On the node's own host name (NODE_BASE_URL),
    which is no tenant's, `node_page` answers if given; any other unknown host or slug is a
    readable 404. A `read_only` page runs without a transaction (no SQLite write lock).
    """
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        endpoint = options.pop("endpoint", view.__name__)

        @functools.wraps(view)
        def page(slug: str | None = None, **kwargs: Any) -> Any:
            if read_only and not (i18n.language_choice() and "account_id" in session):
                db.read_only()  # (a signed-in language switch writes: see below)
            tenant = tenant_for_request(slug)
            if tenant is None:
                if slug is None and node_page is not None and is_node_host():
                    return node_page()
                return no_such_tenant()
            enter_tenant(tenant, via_path=slug is not None)
            _remember_language_of_account()
            return view(tenant, **kwargs)

        blueprint.add_url_rule("/t/<slug>" + rule, endpoint, page, **options)
        blueprint.add_url_rule(rule, endpoint, page, **options)
        return page

    return decorator


def _remember_language_of_account() -> None:
    """A signed-in person switching language: their emails follow too."""
    choice, account = i18n.language_choice(), signed_in_here()
    if choice and account is not None and account.locale != choice:
        with acting_as(f"web:{account.username}"), transaction(db):
            set_account_locale(account, choice)


def tenant_url(endpoint: str, **values: Any) -> str:
    """A link to a tenant page in the form this request used (host name or `/t/<slug>/`)."""
    tenant = g.get("tenant")
    if tenant is not None and g.get("tenant_via_path", True):
        values.setdefault("slug", tenant.slug)
    return url_for(endpoint, **values)


def absolute_tenant_url(tenant: Tenant, endpoint: str, **values: Any) -> str:
    """A link for an email: NODE_BASE_URL and the `/t/<slug>/` form, never the request's Host
    header (which a client chooses, so a reset link could point elsewhere)."""
    settings: NodeSettings = current_app.extensions["node"]
    return settings.base_url.rstrip("/") + url_for(endpoint, slug=tenant.slug, **values)
