"""The portal's page machinery: languages (hub catalogs), layout helpers, headers, error pages.

Languages, headers, the error page and vendor serving are the node's, shared through
`shared.web.i18n` and `shared.web.pages`; this module adds the hub's catalogs and messages,
and one step to the language choice: after `?lang=` and the cookie, the signed-in account's
stored language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import format_date, format_datetime, format_number
from flask_babel import gettext as _

from hub.auth.session import current_hub_account, signed_in
from hub.portal import labels
from hub.settings import HubSettings
from shared.web import i18n
from shared.web.api import Api
from shared.web.pages import finish_page, is_page, page_error, static_url, vendor_url

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
babel = i18n.PageBabel(TRANSLATIONS)


def select_locale() -> str:
    """`?lang=` or the cookie (an explicit choice), else the signed-in account's language,
    else the default."""
    if not has_request_context():
        return i18n.DEFAULT_LOCALE
    chosen = i18n.explicit_language()
    if chosen:
        return chosen
    account = current_hub_account() if signed_in() else None
    if account is not None and account.locale in i18n.LANGUAGES:
        return str(account.locale)
    return i18n.DEFAULT_LOCALE


def compile_catalogs() -> list[Path]:
    """Compile the hub's catalogs whose `.mo` is missing or stale (as `make setup` does)."""
    return i18n.compile_catalogs(TRANSLATIONS)


def http_error_page(status: int, _name: str) -> Any:
    """HTML for errors outside the API (the API answers problem+json)."""
    messages = {
        400: _("The request could not be understood."),
        404: _("There is no page at this address."),
        405: _("This page cannot be used this way."),
        413: _("What you sent is too large."),
        422: _("The request could not be understood."),
        429: _("Too many requests. Wait a while and try again."),
    }
    return page_error(status, messages.get(status, _("Something went wrong on our side. "
                                                     "Try again later.")))


TEMPLATE_GLOBALS: dict[str, Any] = {
    "static_url": static_url,
    "vendor_url": vendor_url,
    "language_links": i18n.language_links,
    "html_lang": i18n.html_lang,
    "current_language": i18n.current_language,
    "format_date": format_date,
    "format_datetime": format_datetime,
    "format_number": format_number,
    "kind_label": labels.kind,
    "stage_label": labels.stage,
    "metric_label": labels.metric,
    "node_status_label": labels.node_status,
    "level_label": labels.level,
}


def _finish(response: Response) -> Response:
    if not is_page(response):
        return response
    settings: HubSettings = current_app.extensions["hub"]
    # The portal's pages are public; sign-in and console pages never cached.
    return finish_page(response, public=request.blueprint == "portal",
                       anonymous=not signed_in(), secure=not settings.debug)


def init_app(app: Flask, api: Api) -> None:
    i18n.init_app(app, babel, select_locale)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.after_request(_finish)
    api.html_error = http_error_page
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
