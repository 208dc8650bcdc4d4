"""Account pages: change one's password, the forgotten-password link by email, and the tenant
administrator's list of accounts (create, disable, enable).

Views translate HTTP only: the rules (password length, tokens, throttling) are the services'
(`node.accounts.services`), the same ones the API uses.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _

from node.accounts import services
from node.accounts.schemas import AccountCreateSchema
from node.audit.recording import acting_as
from node.auth.principal import set_principal
from node.db import db
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.web import i18n, mail
from node.web.console import (
    FormErrors,
    Visit,
    account_page,
    field_errors,
    is_partial_request,
    load_form,
)
from node.web.responses import page_error
from node.web.session import csrf_valid, start_session
from node.web.tenancy import absolute_tenant_url, signed_in_here, tenant_route, tenant_url
from shared.db import transaction
from shared.errors import Conflict, Forbidden, InvalidInput, TooManyAttempts

blp = Blueprint("account_pages", __name__)

MAX_PASSWORD = 1024
MAX_EMAIL = 120


def _settings() -> NodeSettings:
    settings: NodeSettings = current_app.extensions["node"]
    return settings


def _form_expired() -> Any:
    return page_error(400, _("The form has expired. Go back, reload the page and try again."))


def _too_short() -> str:
    return _("Use at least %(n)s characters.", n=services.MIN_PASSWORD_LENGTH)


def _new_password_problem(new: str, again: str) -> str | None:
    """Form checks before the service's: both fields the same, within reason."""
    if not new:
        return _("Enter a new password.")
    if len(new) > MAX_PASSWORD:
        return _("The password is too long.")
    if new != again:
        return _("The two new passwords are not the same.")
    return None


# --- change password (signed in) -------------------------------------------------------------

@tenant_route(blp, "/account/password", methods=["GET", "POST"])
def change_password(tenant: Tenant) -> Any:
    account = signed_in_here()
    if account is None:
        return redirect(tenant_url("auth.login", next=request.path), 303)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        return render_template("accounts/change_password.html", tenant=tenant,
                               errors=errors or {}, min_length=services.MIN_PASSWORD_LENGTH
                               ), status

    if request.method == "GET":
        return page()
    if not csrf_valid():
        return _form_expired()
    current = request.form.get("current_password", "")
    new, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    problem = _new_password_problem(new, again)
    if not current or len(current) > MAX_PASSWORD:
        return page({"current_password": _("Enter your current password.")}, 400)
    if problem:
        return page({"new_password": problem}, 400)
    set_principal(services.load_principal(account))  # the audit log names the account
    try:
        with transaction(db):
            services.change_password(account, current=current, new=new)
    except InvalidInput as exc:
        errors = exc.errors or {}
        if "current_password" in errors:
            return page({"current_password": _("The current password is wrong.")}, 400)
        return page({"new_password": _too_short()}, 400)
    start_session(account)  # this browser stays signed in; other sessions end
    flash(_("Your password has been changed."), "success")
    return redirect(tenant_url("auth.login"), 303)


# --- forgotten password ----------------------------------------------------------------------

@tenant_route(blp, "/password/forgot", methods=["GET", "POST"])
def forgot_password(tenant: Tenant) -> Any:
    settings = _settings()
    available = mail.mail_available(settings)

    def page(error: str | None = None, status: int = 200, **headers: str) -> Any:
        return render_template("accounts/forgot_password.html", tenant=tenant, error=error,
                               available=available,
                               email=request.form.get("email", "")[:MAX_EMAIL]), status, headers

    if request.method == "GET" or not available:
        return page()
    if not csrf_valid():
        return _form_expired()
    address = request.form.get("email", "").strip()
    if (not 3 <= len(address) <= MAX_EMAIL or "@" not in address
            or not address.isprintable() or " " in address):
        return page(_("Enter the email address of your account."), 400)
    try:
        with acting_as("password-reset"), transaction(db):
            issued = services.request_password_reset(
                tenant_id=tenant.id, email=address, remote_addr=request.remote_addr,
                max_requests=settings.password_reset_max_requests,
                window=settings.login_window, ttl=settings.password_reset_ttl)
    except TooManyAttempts as exc:
        return page(_("Too many requests. Wait a while and try again."), 429, **exc.headers)
    for reset in issued:
        _send_reset_link(settings, tenant, reset)
    # The same answer whether or not an account has this address.
    return render_template("accounts/reset_sent.html", tenant=tenant,
                           minutes=settings.password_reset_ttl // 60)


def _send_reset_link(settings: NodeSettings, tenant: Tenant, reset: services.IssuedReset
                     ) -> None:
    account = reset.account
    language = account.locale if account.locale in i18n.LANGUAGES else \
        i18n.current_language()
    link = absolute_tenant_url(tenant, "account_pages.reset_password", token=reset.token)
    with force_locale(language):
        subject = _("Reset your password: %(site)s", site=tenant.name)
        body = render_template("mail/password_reset.txt", tenant=tenant, account=account,
                               link=link, minutes=settings.password_reset_ttl // 60)
    assert account.email is not None
    message = mail.compose(settings, to=account.email, subject=subject, body=body,
                           language=language)
    mail.send_later(settings, message)


@tenant_route(blp, "/password/reset/<token>", methods=["GET", "POST"])
def reset_password(tenant: Tenant, token: str) -> Any:
    def invalid() -> Any:
        return render_template("accounts/reset_invalid.html", tenant=tenant), 400

    def page(error: str | None = None, status: int = 200) -> Any:
        return render_template("accounts/reset_password.html", tenant=tenant, error=error,
                               account=account, min_length=services.MIN_PASSWORD_LENGTH
                               ), status

    try:
        account = services.check_reset_token(token)
    except InvalidInput:
        return invalid()
    if request.method == "GET":
        return page()
    if not csrf_valid():
        return _form_expired()
    new, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    problem = _new_password_problem(new, again)
    if problem:
        return page(problem, 400)
    try:
        with acting_as(f"password-reset:{account.username}"), transaction(db):
            services.reset_password(token=token, new=new)
    except InvalidInput as exc:
        if "token" in (exc.errors or {}):
            return invalid()
        return page(_too_short(), 400)
    flash(_("Your password has been changed. Sign in with the new one."), "success")
    return redirect(tenant_url("auth.login"), 303)


# --- accounts (tenant administrators) ------------------------------------------------------------

admin_blp = Blueprint("account_admin_pages", __name__)

_CREATE_FIELDS = ("username", "display_name", "email", "password")


def _accounts_page(visit: Visit, errors: dict[str, str] | None = None,
                   status: int = 200) -> Any:
    after = request.args.get("after", type=int)
    accounts = services.list_accounts(visit.principal, after_id=after, limit=ACCOUNTS_PAGE + 1)
    more = len(accounts) > ACCOUNTS_PAGE
    values = request.form if request.method == "POST" else {}
    shown = accounts[:ACCOUNTS_PAGE]
    return render_template("accounts/console.html", accounts=shown,
                           members=services.linked_members(shown),
                           next_after=accounts[ACCOUNTS_PAGE - 1].id if more else None,
                           values=values, errors=errors or {}, me=visit.account.id), status


ACCOUNTS_PAGE = 100


@account_page(admin_blp, "/console/accounts", needs="tenant_admin", methods=("GET", "POST"))
def accounts(visit: Visit) -> Any:
    """Accounts of the tenant, and a new one (its roles are given on the roles page)."""
    if request.method == "GET":
        return _accounts_page(visit)
    try:
        data = load_form(AccountCreateSchema(), _CREATE_FIELDS)
        with visit.writing():
            account = services.create_account(visit.principal, **data)
    except FormErrors as exc:
        return _accounts_page(visit, exc.errors, 400)
    except (InvalidInput, Conflict, Forbidden) as exc:
        return _accounts_page(visit, field_errors(exc), 409 if isinstance(exc, Conflict)
                              else 400)
    flash(_("The account %(username)s has been created. Give it a role on the roles page.",
            username=account.username), "success")
    return redirect(visit.url("account_admin_pages.accounts"), 303)


@account_page(admin_blp, "/console/accounts/<int:account_id>/active", needs="tenant_admin",
              methods=("POST",))
def account_active(visit: Visit, account_id: int) -> Any:
    """Disable or enable an account (a disabled one cannot sign in or use its tokens)."""
    active = request.form.get("active") == "1"
    try:
        with visit.writing():
            account = services.set_account_active(visit.principal, account_id, is_active=active)
    except Conflict:
        flash(_("You cannot disable your own account."), "error")
        return redirect(visit.url("account_admin_pages.accounts"), 303)
    except Forbidden:
        flash(_("This account holds roles stronger than yours."), "error")
        return redirect(visit.url("account_admin_pages.accounts"), 303)
    flash(_("%(username)s can sign in again.", username=account.username) if active
          else _("%(username)s can no longer sign in.", username=account.username), "success")
    return redirect(visit.url("account_admin_pages.accounts"), 303)


# --- an account and its member record (tenant administrators) ------------------------------------

MAX_QUERY = 60
CANDIDATES = 20


def _search_text() -> str | None:
    value = request.values.get("q", "").strip()
    return value if value and len(value) <= MAX_QUERY and value.isprintable() else None


def _account_page(visit: Visit, account_id: int, *, error: str | None = None,
                  status: int = 200) -> Any:
    """The account, the member it is linked to, and the search to link one (results come
    in place with htmx, or with the page itself without JavaScript)."""
    account = services.get_account(visit.principal, account_id)
    q = _search_text()
    candidates = services.link_candidates(visit.principal, q, limit=CANDIDATES) if q else []
    context = {"account": account, "q": q, "raw_q": request.values.get("q", "")[:MAX_QUERY],
               "candidates": candidates, "limit": CANDIDATES, "error": error}
    if is_partial_request() and request.method == "GET":
        return render_template("accounts/_candidates.html", **context)
    member = services.linked_members([account]).get(account.id)
    return render_template("accounts/account.html", member=member, **context), status


@account_page(admin_blp, "/console/accounts/<int:account_id>", needs="tenant_admin")
def account_detail(visit: Visit, account_id: int) -> Any:
    return _account_page(visit, account_id)


@account_page(admin_blp, "/console/accounts/<int:account_id>/member", needs="tenant_admin",
              methods=("POST",))
def account_member(visit: Visit, account_id: int) -> Any:
    """Link the account to the chosen member (`member_id`), or unlink it (`unlink`)."""
    unlink = "unlink" in request.form
    raw = request.form.get("member_id", "").strip()
    if not unlink and not (raw.isdigit() and 0 < int(raw) < 2**31):
        return _account_page(visit, account_id, status=400,
                             error=_("Search for the member, choose one, then confirm."))
    member_id = None if unlink else int(raw)
    try:
        with visit.writing():
            account = services.set_account_member(visit.principal, account_id,
                                                  member_id=member_id)
            username = account.username
            linked = services.linked_members([account]).get(account.id)
    except InvalidInput:
        return _account_page(visit, account_id, status=400, error=_(
            "This member is not in your scope. Search again and choose one from the list."))
    except Conflict as exc:
        return _account_page(visit, account_id, status=409, error=_(
            "This member already has an account (%(username)s). Unlink it there first.",
            username=exc.extra.get("account", "")))
    except Forbidden:
        return _account_page(visit, account_id, status=403,
                             error=_("This account holds roles stronger than yours."))
    if linked is None:
        flash(_("%(username)s is no longer linked to a member record.", username=username),
              "success")
    else:
        flash(_("%(username)s is now linked to %(name)s (%(number)s).", username=username,
                name=linked.name, number=linked.member_number), "success")
    return redirect(visit.url("account_admin_pages.account_detail", account_id=account_id), 303)
