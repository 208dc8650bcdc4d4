"""Readable HTML error pages and the headers every page is sent with."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, render_template, request, session
from flask_babel import gettext as _

from node.settings import NodeSettings
from node.web import i18n

#: Pages load scripts, styles and images from this site only (htmx and ECharts are served
#: from the node's own vendor route) and may not be framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")
#: How long browsers and shared caches may keep an anonymous public page.
PUBLIC_MAX_AGE = 300


def page_error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    page = render_template("error.html", status=status, message=message)
    return page, status, headers or {}


def http_error_page(status: int, _name: str) -> Any:
    """HTML for errors outside the API (the API answers problem+json)."""
    messages = {
        400: _("The request could not be understood."),
        403: _("You may not open this page."),
        404: _("There is no page at this address."),
        405: _("This page cannot be used this way."),
        413: _("What you sent is too large."),
        429: _("Too many requests. Wait a while and try again."),
    }
    return page_error(status, messages.get(status, _("Something went wrong on our side. "
                                                     "Try again later.")))


def _secure() -> bool:
    settings: NodeSettings = current_app.extensions["node"]
    return not settings.debug


def finish_page(response: Response) -> Response:
    """Security and cache headers of a page, and the language cookie.

    A page is cached (by browsers and shared caches, for a few minutes) only when it is a
    public site page, nobody is signed in and no cookie is being set; anything else (sign-in,
    forms, errors) is `no-store`.
    """
    public = request.blueprint == "site"
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Account pages carry tokens in their URLs (reset links): never in a Referer header.
    headers.setdefault("Referrer-Policy",
                       "strict-origin-when-cross-origin" if public else "no-referrer")
    i18n.remember_language(response, secure=_secure())
    anonymous = "account_id" not in session and g.get("session_account") is None
    if (public and anonymous and response.status_code == 200
            and i18n.language_choice() is None and "Set-Cookie" not in headers):
        headers.setdefault("Cache-Control", f"public, max-age={PUBLIC_MAX_AGE}")
    else:
        headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    return response
