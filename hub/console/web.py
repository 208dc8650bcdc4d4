"""The one entry of every signed-in hub page: `console_page`.

It registers a page that needs a signed-in hub account (anonymous visitors are sent to sign
in and back), checks the account's role, checks the CSRF token of every POST, and turns the
services' errors into readable pages: missing is 404, a refused role 403, a refused change
the service's message. What a principal may do is always the services' decision (or the role
the page needs); views only translate HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from hub.accounts.models import HubAccount, HubRole
from hub.accounts.services import principal_for
from hub.auth.principal import HubPrincipal, set_hub_principal
from hub.auth.session import csrf_valid, current_hub_account
from hub.db import db
from shared.db import transaction
from shared.errors import DomainError, Forbidden, NotFound
from shared.web.pages import page_error

__all__ = ["NEEDS", "Visit", "console_page", "current_visit", "forbidden_page", "form_expired",
           "not_found_page"]


@dataclasses.dataclass(frozen=True)
class Visit:
    """Who is looking at a console page: the account and its principal."""

    account: HubAccount
    principal: HubPrincipal

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def actor(self) -> str:
        """How the account is named in records it leaves (revoked_by, resolved_by, ...)."""
        return f"hub:{self.account.username}"

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A form's unit of work: one transaction, rolled back on any error (so a refused form
        changes nothing)."""
        with transaction(db) as session:
            yield session


#: Who may open a page: "account" (any signed-in account, region viewers too), "auditor"
#: (auditors and administrators), "admin" (administrators).
NEEDS: dict[str, HubRole] = {"account": HubRole.region_viewer, "auditor": HubRole.auditor,
                             "admin": HubRole.administrator}
_REFUSALS = {
    "auditor": _l("This page is for the hub's administrators and auditors."),
    "admin": _l("This page is for the hub's administrators."),
}


def forbidden_page(message: str | None = None) -> Any:
    return page_error(403, message or _("You may not open this page."))


def not_found_page() -> Any:
    return page_error(404, _("There is no page at this address."))


def form_expired() -> Any:
    return page_error(400, _("The form has expired. Go back, reload the page and try again."))


def console_page(blueprint: Blueprint, rule: str, *, needs: str = "auditor",
                 methods: tuple[str, ...] = ("GET",), read_only: bool | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a signed-in console page; the view is called with a `Visit` first.

    `needs` is "auditor" or "admin" ("account": any signed-in account). POSTs are checked for
    the CSRF token before the view runs. GET-only pages are read-only units of work unless
    `read_only=False`.
    """
    role = NEEDS[needs]
    only_reads = methods == ("GET",) if read_only is None else read_only

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def page(**kwargs: Any) -> Any:
            if only_reads:
                db.read_only()
            account = current_hub_account()
            if account is None:
                return redirect(url_for("hub_auth.login", next=request.full_path.rstrip("?")),
                                303)
            principal = principal_for(account)
            set_hub_principal(principal)
            visit = Visit(account, principal)
            g.visit = visit
            if not principal.has(role):
                return forbidden_page(str(_REFUSALS.get(needs, "")) or None)
            if request.method == "POST" and not csrf_valid():
                return form_expired()
            try:
                return view(visit, **kwargs)
            except NotFound:
                return not_found_page()
            except Forbidden as exc:
                known = SERVICE_MESSAGES.get(exc.detail or "")
                return forbidden_page(str(known) if known is not None else None)
            except DomainError as exc:
                return page_error(exc.status if exc.status < 500 else 400, explain(exc))

        page.console_needs = needs  # type: ignore[attr-defined]  # the role matrix reads it
        blueprint.add_url_rule(rule, view_func=page, methods=list(methods))
        return page

    return decorator


def current_visit() -> Visit | None:
    visit: Visit | None = g.get("visit")
    return visit


#: The services speak English (the API's problem details); pages show these translations.
#: Features add theirs (`SERVICE_MESSAGES.update(...)`).
SERVICE_MESSAGES: dict[str, Any] = {}


def readable(message: str) -> str:
    """A service message in the page's language when known, else as the service wrote it."""
    found = SERVICE_MESSAGES.get(message)
    return str(found) if found is not None else message


def explain(exc: DomainError) -> str:
    """A refusal for a page: translated when known, else a translated sentence around the
    service's own words."""
    message = exc.detail or exc.title
    found = SERVICE_MESSAGES.get(message)
    if found is not None:
        return str(found)
    return _("This could not be done: %(why)s", why=message)
