"""What the hub's signed-in pages add to the portal's layout: the CSRF token, the signed-in
account and the console's menu (template globals), and their cache headers."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l

from hub.accounts.models import HubRole
from hub.auth.session import csrf_token, current_hub_account
from hub.console.web import NEEDS, current_visit

#: The console's menu: (endpoint, label, who may open it). Other features add their pages
#: with `add_console_link` (e.g. directives).
CONSOLE_LINKS: list[tuple[str, Any, str]] = [
    ("console.home", _l("Overview"), "account"),
    ("console.statistics", _l("Statistics"), "account"),
    ("console.nodes_page", _l("Nodes"), "auditor"),
    ("console.tokens", _l("Enrollment tokens"), "auditor"),
    ("console.quarantine", _l("Quarantine"), "auditor"),
    ("console.feed_page", _l("Feed"), "auditor"),
    ("hub_accounts.accounts", _l("Accounts"), "admin"),
]


ROLE_LABELS: dict[HubRole, Any] = {
    HubRole.administrator: _l("Administrator"), HubRole.auditor: _l("Auditor"),
    HubRole.region_viewer: _l("Region viewer")}
TOKEN_STATES = {"unused": _l("Unused"), "used": _l("Used"), "expired": _l("Expired"),
                "revoked": _l("Revoked")}
QUARANTINE_STATES = {"held": _l("Held"), "released": _l("Released"),
                     "discarded": _l("Discarded"), "all": _l("All")}


def _label(labels: dict[Any, Any], value: Any) -> str:
    found = labels.get(value)
    return str(found) if found is not None else str(value)


def add_console_link(endpoint: str, label: Any, needs: str = "auditor") -> None:
    """Add a page to the console's menu (before the accounts, which stay last)."""
    if all(existing != endpoint for existing, _label, _needs in CONSOLE_LINKS):
        CONSOLE_LINKS.insert(len(CONSOLE_LINKS) - 1, (endpoint, label, needs))


def console_links() -> list[dict[str, str]]:
    from flask import url_for

    visit = current_visit()
    if visit is None:
        return []
    return [{"url": url_for(endpoint), "label": str(label), "endpoint": endpoint}
            for endpoint, label, needs in CONSOLE_LINKS
            if visit.principal.has(NEEDS[needs])]


TEMPLATE_GLOBALS: dict[str, Any] = {
    "csrf_token": csrf_token,
    "current_hub_account": current_hub_account,
    "console_links": console_links,
    "role_label": lambda value: _label(ROLE_LABELS, value),
    "token_state_label": lambda value: _label(TOKEN_STATES, value),
    "quarantine_state_label": lambda value: _label(QUARANTINE_STATES, value),
}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
