"""The bearer-token check both apps run before every /api request.

Secure by default: every /api endpoint needs a token unless the app lists it as public. The
OAuth scope follows the HTTP method: reads need `read`, everything else needs `write`. Each app
turns the token into its own principal (`lookup`) and decides roles and tenancy itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol, TypeVar

from flask import request

from shared.errors import Forbidden, Unauthorized

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The API documents, health and version, and the front-end packages: open on both apps.
ALWAYS_PUBLIC = frozenset({"api-docs.openapi_json", "api-docs.openapi_redoc",
                           "api-docs.openapi_swagger_ui", "meta.Version", "meta.healthz",
                           "meta.readyz", "vendor"})


class Scoped(Protocol):
    @property
    def scopes(self) -> frozenset[str]: ...


P = TypeVar("P", bound=Scoped)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(lookup: Callable[[str], P | None], *, public: Collection[str],
                 realm: str) -> P | None:
    """The principal of this API request's token; None when the request needs none (not
    /api, a public endpoint, or an unknown route that the 404/405 handler answers)."""
    if not request.path.startswith("/api/") or request.endpoint in public:
        return None
    if request.endpoint is None:
        return None
    raw = bearer_token()
    if raw is None:
        raise Unauthorized("Send an OAuth 2 bearer token.",
                           headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
    principal = lookup(raw)
    if principal is None:
        raise Unauthorized("The token is invalid, expired or revoked, or its account disabled.",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    needed = "read" if request.method in READ_METHODS else "write"
    if needed not in principal.scopes:
        raise Forbidden(f"The token lacks the '{needed}' scope.",
                        headers={"WWW-Authenticate":
                                 f'Bearer error="insufficient_scope" scope="{needed}"'})
    return principal
