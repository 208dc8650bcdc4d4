"""Authenticates the hub's API requests by bearer token, and the role each one needs.

Secure by default, in one place: every /api endpoint needs a token unless listed in
PUBLIC_ENDPOINTS; a read needs the `read` scope and at least the auditor role, anything else
the `write` scope and the administrator role. A view may declare another role with `requires`
(a region viewer's aggregates: the view then keeps to `principal.region_prefix`); a write
never needs less than an administrator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request

from hub.accounts.models import HubRole
from hub.auth.principal import current_hub_principal, set_hub_principal
from hub.auth.services import principal_for_access_token
from shared.web.bearer import ALWAYS_PUBLIC, READ_METHODS, authenticate

#: Open without a token: health and version, the API documents, the enrollment (its one-time
#: token is the credential), the key directory (nodes fetch it) and the published feed and
#: statistics (what the public national portal shows: counts only, never a person).
PUBLIC_ENDPOINTS = ALWAYS_PUBLIC | frozenset({
    "nodes.Enrollments", "keys.Directory",
    "feed.Feed", "feed.FeedSearch", "feed.FeedItemById",
    "stats.Rollups", "stats.Comparisons", "stats.Series", "stats.Rankings",
    "stats.RollupExport", "stats.RankingExport",
})
_ROLE_ATTRIBUTE = "partynet_hub_role"

F = TypeVar("F", bound=Callable[..., Any])


def requires(role: HubRole) -> Callable[[F], F]:
    """Declare (and check) the hub role an API view needs; see the module's rules."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            current_hub_principal().require(role)
            return view(*args, **kwargs)

        setattr(checked, _ROLE_ATTRIBUTE, role)
        return checked  # type: ignore[return-value]

    return decorator



def declared_role(endpoint: str, method: str) -> HubRole | None:
    """The role a view declared with `requires`, if any."""
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        name = method.lower()
        view = getattr(view_class, name, None) or (
            getattr(view_class, "get", None) if name == "head" else None)
    role: HubRole | None = getattr(view, _ROLE_ATTRIBUTE, None)
    return role


def required_role(endpoint: str, method: str) -> HubRole:
    """What an API request needs: the declared role, else auditor for reads and administrator
    for writes (never less for a write)."""
    declared = declared_role(endpoint, method)
    if method in READ_METHODS:
        return declared or HubRole.auditor
    if declared is not None and declared.at_least(HubRole.administrator):
        return declared
    return HubRole.administrator


def authenticate_api_request() -> None:
    principal = authenticate(principal_for_access_token, public=PUBLIC_ENDPOINTS,
                             realm="partynet-hub")
    if principal is not None:
        set_hub_principal(principal)
        assert request.endpoint is not None
        principal.require(required_role(request.endpoint, request.method))


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        set_hub_principal(None)
        authenticate_api_request()

    app.teardown_request(lambda _exc: set_hub_principal(None))
