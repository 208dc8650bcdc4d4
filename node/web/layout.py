"""The page layout's helpers and the app-wide page hooks (language, headers, error pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, Response, g, request
from flask_babel import format_date, format_datetime, format_number

from node.web import console, i18n, labels
from node.web.responses import finish_page, http_error_page
from node.web.session import csrf_token
from node.web.tenancy import signed_in_here, tenant_url
from shared.web.api import Api
from shared.web.pages import static_url, vendor_url

#: Functions every template may call (globals, so imported macros see them too).
TEMPLATE_GLOBALS: dict[str, Any] = {
    "csrf_token": csrf_token,
    "tenant_url": tenant_url,
    "static_url": static_url,
    "vendor_url": vendor_url,
    "language_links": i18n.language_links,
    "html_lang": i18n.html_lang,
    "current_language": i18n.current_language,
    "signed_in_here": signed_in_here,
    "format_date": format_date,
    "today": dt.date.today,
    "format_datetime": format_datetime,
    "format_number": format_number,
    "org_kind": labels.org_kind,
    "officer_position": labels.officer_position,
    "stage_label": labels.stage,
    "status_label": labels.status,
    "education_label": labels.education,
    "gender_label": labels.gender,
    "role_label": labels.role,
    "history_note": labels.history_note,
    "entity_label": labels.entity,
    "rule_label": labels.rule,
    "warning_text": labels.warning_text,
    "header_links": console.header_links,
    "console_links": console.console_links,
}


def _tuple_label(value: Any, label: Any) -> tuple[Any, str]:
    """`(value, label(value))`: an option of a select."""
    return value, str(label(value))


def _org_option(org: Any) -> tuple[int, str]:
    """An organization as an option, indented by its depth in the tree."""
    return org.id, "\u3000" * int(org.depth or 0) + org.name


def _account_option(account: Any) -> tuple[int, str]:
    return account.id, f"{account.display_name} ({account.username})"


def audit_changes(entry: Any, most: int = 6) -> str:
    """What an audit entry changed, briefly: `field: before → after` for changed fields."""
    before, after = entry.before or {}, entry.after or {}
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    parts = []
    for key in keys[:most]:
        old, new = before.get(key), after.get(key)
        parts.append(f"{key}: {_short(old)} → {_short(new)}" if key in before
                     else f"{key}: {_short(new)}")
    if len(keys) > most:
        parts.append("…")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


TEMPLATE_FILTERS: dict[str, Any] = {"tuple_label": _tuple_label, "org_option": _org_option,
                                    "account_option": _account_option}


def _page_context() -> dict[str, Any]:
    return {"page_tenant": g.get("tenant")}


def _finish(response: Response) -> Response:
    # Pages only: not the API (problem+json, Swagger UI) nor JSON/OAuth answers or files.
    if request.path.startswith("/api") or response.mimetype != "text/html":
        return response
    return finish_page(response)


def init_app(app: Flask, api: Api) -> None:
    i18n.init_app(app)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.jinja_env.filters.update(TEMPLATE_FILTERS)
    app.jinja_env.globals["audit_changes"] = audit_changes
    app.context_processor(_page_context)
    app.after_request(_finish)
    api.html_error = http_error_page
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
