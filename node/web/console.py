"""Signed-in working pages: the member's own pages, the secretary's console and the tenant
administrator's pages.

`account_page` registers a tenant page (`tenant_route`) that needs a signed-in account of the
tenant (anonymous visitors are sent to sign in and back), loads the account's principal (its
grants, the same reach the API uses) and turns the services' errors into readable pages:
out of reach or missing is 404 (never revealing that a record exists), a refused role is 403.
What a principal may do is always the services' decision; views only translate HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import marshmallow as ma
from flask import Blueprint, g, redirect, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.accounts.models import Account
from node.accounts.services import load_principal
from node.audit.recording import acting_as, set_remote_addr
from node.auth.principal import Principal, set_principal
from node.db import db
from node.grants.models import Role
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from node.web.responses import page_error
from node.web.session import csrf_valid
from node.web.tenancy import signed_in_here, tenant_route, tenant_url
from shared.db import transaction
from shared.errors import DomainError, Forbidden, NotFound


@dataclasses.dataclass(frozen=True)
class Visit:
    """Who is looking at a working page: the tenant, the account and its principal."""

    tenant: Tenant
    account: Account
    principal: Principal

    @property
    def is_console_user(self) -> bool:
        return bool(self.principal.prefixes(Role.org_viewer))

    @property
    def is_admin(self) -> bool:
        return bool(self.principal.prefixes(Role.org_admin))

    @property
    def is_tenant_admin(self) -> bool:
        return self.principal.can(Role.tenant_admin, self.tenant.code_prefix)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Any]:
        """A form's unit of work: one transaction (rolled back on any error, so a refused
        form changes nothing); the audit log names the account."""
        with acting_as(f"web:{self.account.username}"), transaction(db) as session:
            yield session

    def url(self, endpoint: str, **values: Any) -> str:
        return tenant_url(endpoint, **values)


#: Who may open a page: "account" (anyone signed in), "console" (org_viewer somewhere),
#: "admin" (org_admin somewhere), "tenant_admin" (of the whole tenant).
NEEDS: dict[str, Callable[[Visit], bool]] = {
    "account": lambda visit: True,
    "console": lambda visit: visit.is_console_user,
    "admin": lambda visit: visit.is_admin,
    "tenant_admin": lambda visit: visit.is_tenant_admin,
}
_REFUSALS = {
    "console": _l("This page is for organization secretaries and administrators."),
    "admin": _l("This page is for organization administrators."),
    "tenant_admin": _l("This page is for the organization department's administrators."),
}


def forbidden_page(message: str | None = None) -> Any:
    return page_error(403, message or _("You may not open this page."))


def not_found_page() -> Any:
    return page_error(404, _("There is no page at this address."))


def form_expired() -> Any:
    return page_error(400, _("The form has expired. Go back, reload the page and try again."))


def account_page(blueprint: Blueprint, rule: str, *, needs: str = "account",
                 methods: tuple[str, ...] = ("GET",), read_only: bool | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a signed-in page; the view is called with a `Visit` first.

    POSTs are checked for the CSRF token before the view runs. GET-only pages are read-only
    units of work unless `read_only=False`.
    """
    check = NEEDS[needs]
    only_reads = methods == ("GET",) if read_only is None else read_only

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def page(tenant: Tenant, **kwargs: Any) -> Any:
            account = signed_in_here()
            if account is None:
                return redirect(tenant_url("auth.login", next=request.path), 303)
            principal = load_principal(account)
            set_principal(principal)
            set_remote_addr(request.remote_addr)
            visit = Visit(tenant, account, principal)
            g.visit = visit
            if not check(visit):
                return forbidden_page(str(_REFUSALS.get(needs, "")) or None)
            if request.method == "POST" and not csrf_valid():
                return form_expired()
            try:
                return view(visit, **kwargs)
            except NotFound:
                return not_found_page()
            except Forbidden as exc:
                return forbidden_page(explain(exc))
            except DomainError as exc:
                return page_error(exc.status if exc.status < 500 else 400, explain(exc))

        tenant_route(blueprint, rule, methods=list(methods), read_only=only_reads)(page)
        return page

    return decorator


def is_partial_request() -> bool:
    """An htmx request for a part of a page (not a history restore, which wants it whole)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def current_visit() -> Visit | None:
    visit: Visit | None = g.get("visit")
    return visit


# --- the services' messages, readable ---------------------------------------------------------

#: The services speak English (the API's problem details); pages show these translations.
SERVICE_MESSAGES: dict[str, Any] = {
    "Required.": _l("Required."),
    "This member was transferred out; the record is read-only.":
        _l("This member was transferred out; the record is read-only."),
    "Transferred out.": _l("Transferred out; the record is read-only."),
    "The date is in the future.": _l("The date cannot be in the future."),
    "Future.": _l("The date cannot be in the future."),
    "Before the previous change.": _l("The date is before the previous change."),
    "Not the next stage.": _l("Only the next stage of the pipeline can be chosen."),
    "Already a full member.": _l("A full member has no further stage."),
    "Same.": _l("The member already has this status."),
    "Set by the transfer workflow.": _l("Transfers set this status, not a direct change."),
    "The member is already in this organization.":
        _l("The member is already in this organization."),
    "Unknown organization.": _l("Choose an organization in your scope."),
    "Dissolved.": _l("The organization is dissolved."),
    "A party group cannot hold members.":
        _l("Members belong to a branch, not to a party group."),
    "Already registered.": _l("A member with this national ID is already registered."),
    "Already used.": _l("Another organization has this external code."),
    "Incompatible with the children.":
        _l("The organization's sub-organizations do not fit this kind."),
    "Outside your scope.": _l("Choose an organization in your scope."),
    "Inside the organization being moved.":
        _l("An organization cannot move under itself."),
    "Same parent.": _l("The organization is already there."),
    "Stronger than your own role here.":
        _l("You may only grant roles no stronger than your own, within your scope."),
    "Unknown account.": _l("Choose an active account."),
    "Taken.": _l("This name is taken."),
    "Move its members and sub-organizations first.":
        _l("Move its members and sub-organizations first."),
    "The tenant's root organization cannot be moved.":
        _l("The top organization cannot be moved."),
    "The tenant's root organization cannot be dissolved.":
        _l("The top organization cannot be dissolved."),
    "The organization is already dissolved.": _l("The organization is already dissolved."),
    "The new parent organization is dissolved.": _l("The organization is dissolved."),
    "The parent organization is dissolved.": _l("The organization is dissolved."),
    "The organization is dissolved.": _l("The organization is dissolved."),
    "The account already holds this role here.": _l("The account already holds this role here."),
    "The last tenant administrator cannot be removed.":
        _l("The last administrator cannot be removed."),
    "You may only grant roles no stronger than your own, within your scope.":
        _l("You may only grant roles no stronger than your own, within your scope."),
    "You may only revoke roles no stronger than your own, within your scope.":
        _l("You may only revoke roles no stronger than your own, within your scope."),
    "Not editable.": _l("This field cannot be changed here."),
    "Must come after the reminder.":
        _l("The secretary is alerted after the member is reminded: choose more months."),
}


def readable(message: str) -> str:
    """A service message in the page's language when known, else as the service wrote it."""
    found = SERVICE_MESSAGES.get(message)
    if found is not None:
        return str(found)
    if message.startswith("Not allowed under a "):
        return _("This kind of organization cannot be placed there.")
    if message.startswith("The previous change is dated "):
        return _("The date is before the previous change (%(date)s).",
                 date=message.removeprefix("The previous change is dated ").rstrip("."))
    return message


def explain(exc: DomainError) -> str:
    return readable(exc.detail or exc.title)


def field_errors(exc: DomainError, fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """The error's field messages, readable, keyed by the form's field names.

    `fields` renames service fields to form fields; a message for no known field goes under
    "_form", shown at the top of the form.
    """
    errors: dict[str, str] = {}
    for key, messages in (exc.errors or {}).items():
        text = messages[0] if isinstance(messages, list | tuple) and messages else str(messages)
        errors[(fields or {}).get(key, key)] = readable(str(text))
    if not errors:
        errors["_form"] = explain(exc)
    return errors


# --- reading form values ----------------------------------------------------------------------

class FormErrors(Exception):
    """Form values a person typed that cannot be read (before any service is called)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form errors")
        self.errors = errors


class FormReader:
    """Reads `request.form`, collecting readable errors instead of raising on the first."""

    def __init__(self, form: Mapping[str, str] | None = None) -> None:
        self.form = form if form is not None else request.form
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, max_length: int, required: bool = False) -> str | None:
        value = (self.form.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = _("Required.")
            return None
        if len(value) > max_length:
            self.errors[name] = _("At most %(n)s characters.", n=max_length)
            return None
        if not value.isprintable():
            self.errors[name] = _("Remove the special characters.")
            return None
        return value

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        value = (self.form.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = _("Required.")
            return None
        try:
            return dt.date.fromisoformat(value[:10]) if len(value) <= 10 else _bad_date()
        except ValueError:
            self.errors[name] = _("Enter a date such as 2024-07-01.")
            return None

    def integer(self, name: str, *, required: bool = False, low: int = 0,
                high: int = 2**31 - 1) -> int | None:
        value = (self.form.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = _("Required.")
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            self.errors[name] = _("Enter a whole number from %(low)s to %(high)s.",
                                  low=low, high=high)
            return None
        return int(value)

    def choice(self, name: str, choices: Any, *, required: bool = True) -> Any:
        value = (self.form.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = _("Choose one.")
            return None
        try:
            return choices(value)
        except ValueError:
            self.errors[name] = _("Choose one.")
            return None

    def check(self) -> None:
        if self.errors:
            raise FormErrors(self.errors)


def _bad_date() -> dt.date:
    raise ValueError("not a date")


def query_int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


# --- the header's links -----------------------------------------------------------------------

def header_links() -> list[dict[str, str]]:
    """Links for the signed-in account's roles: its card (a member), the console (any
    secretary or administrator role)."""
    visit = current_visit()
    if visit is None:
        account = signed_in_here()
        tenant = g.get("tenant")
        if account is None or tenant is None:
            return []
        with tenant_context(account.tenant_id):  # (the consent page shows, not enters, it)
            visit = Visit(tenant, account, load_principal(account))
    links = []
    if visit.account.member_id is not None:
        links.append({"url": tenant_url("member_pages.my_card"), "label": _("My card"),
                      "key": "card"})
    if visit.is_console_user:
        links.append({"url": tenant_url("member_pages.console_home"), "label": _("Console"),
                      "key": "console"})
    return links


def console_links() -> list[dict[str, str]]:
    """The console's own menu, by what the principal may open."""
    visit = current_visit()
    if visit is None:
        return []
    items = [("member_pages.console_home", _("Overview"), "console"),
             ("org_pages.tree", _("Organizations"), "console"),
             ("member_pages.member_list", _("Members"), "console"),
             ("meeting_pages.calendar_page", _("Meetings"), "console"),
             ("meeting_pages.compliance", _("Compliance"), "console"),
             ("dues_pages.month_page", _("Dues"), "console"),
             ("transfer_pages.inbox", _("Transfers"), "console"),
             ("floating_pages.floating_list", _("Floating members"), "console"),
             ("import_pages.upload", _("Import"), "admin"),
             ("grant_pages.grants", _("Roles"), "admin"),
             ("audit_pages.audit_log", _("Audit log"), "admin"),
             ("tenant_pages.settings", _("Settings"), "tenant_admin"),
             ("tenant_pages.administrators", _("Administrators"), "tenant_admin"),
             ("account_admin_pages.accounts", _("Accounts"), "tenant_admin"),
             ("quarantine_pages.quarantine", _("Quarantine"), "tenant_admin")]
    return [{"url": tenant_url(endpoint), "label": label, "endpoint": endpoint}
            for endpoint, label, needs in items if NEEDS[needs](visit)]


# --- forms read with the API's own schemas ------------------------------------------------------

_MARSHMALLOW_MESSAGES: dict[str, Any] = {
    "Missing data for required field.": _l("Required."),
    "Field may not be null.": _l("Required."),
    "Not a valid date.": _l("Enter a date such as 2024-07-01."),
    "Not a valid integer.": _l("Choose one."),
    "Not a valid email address.": _l("Enter an email address such as name@example.org."),
    "String does not match expected pattern.": _l("The format is not valid."),
    "NUL characters are not allowed.": _l("Remove the special characters."),
}


def _schema_message(message: str) -> str:
    found = _MARSHMALLOW_MESSAGES.get(message)
    if found is not None:
        return str(found)
    if message.startswith(("Longer than maximum length", "Length must be between")):
        return _("Too long or too short.")
    if message.startswith("Must be one of") or message.startswith("Must be greater"):
        return _("Choose one.")
    return readable(message)


def load_form(schema: ma.Schema, names: Iterable[str], *,
              form: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read form fields with the API's schema for the same operation (one set of input rules).

    An empty field is "no value" (None where the schema allows it); errors come back as one
    readable message per field (`FormErrors`).
    """
    source = form if form is not None else request.form
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        field = schema.fields[name]
        if isinstance(field, ma.fields.Boolean):
            data[name] = name in source
            continue
        value = (source.get(name) or "").strip()
        if value:
            data[name] = value
        elif field.required:
            errors[name] = _("Required.")
        elif field.allow_none:
            data[name] = None
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
        for key, value in messages.items():
            text = value[0] if isinstance(value, list) and value else str(value)
            errors.setdefault(str(key), _schema_message(str(text)))
        raise FormErrors(errors) from None
    if errors:
        raise FormErrors(errors)
    return loaded
