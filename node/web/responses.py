"""Readable HTML error pages and the headers every page is sent with (the headers and the
error page are shared with the hub: `shared.web.pages`)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request, session
from flask_babel import gettext as _

from node.settings import NodeSettings
from shared.web.pages import finish_page as finish_any_page
from shared.web.pages import page_error

__all__ = ["finish_page", "http_error_page", "page_error"]


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
    """The shared page headers; public (cacheable when anonymous) are the tenants' sites."""
    anonymous = "account_id" not in session and g.get("session_account") is None
    return finish_any_page(response, public=request.blueprint == "site", anonymous=anonymous,
                           secure=_secure())
