"""The console's accounts page: administrators list, create and deactivate hub accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub.accounts import services
from hub.accounts.models import HubRole
from hub.console.layout import ROLE_LABELS
from hub.console.web import Visit, console_page
from shared.errors import Conflict, InvalidInput

blp = Blueprint("hub_accounts", __name__, url_prefix="/console/accounts")

#: Readable reasons a form was refused, per field.
FIELD_MESSAGES = {
    "username": _l("Username: 2–60 lowercase letters, digits, '.', '_' or '-'."),
    "display_name": _l("Name: 1–60 characters."),
    "email": _l("Enter an email address such as name@example.org, or leave it empty."),
    "region_prefix": _l("A region viewer needs a code prefix of 2–12 digits (such as 5001); "
                        "the other roles none."),
    "password": _l("Use at least %(n)s characters.", n=services.MIN_PASSWORD_LENGTH),
    "role": _l("Choose a role."),
}
DONE = {"created": _l("The account was created."),
        "deactivated": _l("The account was deactivated: its sessions and tokens no longer "
                          "work.")}


def _page(visit: Visit, *, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    done = request.args.get("done", "")
    return render_template("console/accounts.html", visit=visit,
                           accounts=services.list_accounts(), roles=ROLE_LABELS,
                           errors=errors or {}, form=request.form if errors else {},
                           done=str(DONE[done]) if done in DONE else None), status


@console_page(blp, "", needs="admin")
def accounts(visit: Visit) -> Any:
    return _page(visit)


@console_page(blp, "/new", needs="admin", methods=("POST",))
def create(visit: Visit) -> Any:
    form = request.form
    try:
        role = HubRole(form.get("role", ""))
    except ValueError:
        return _page(visit, errors={"role": str(FIELD_MESSAGES["role"])}, status=422)
    if form.get("password", "") != form.get("confirm_password", ""):
        return _page(visit, errors={"confirm_password": _("The two passwords differ.")},
                     status=422)
    try:
        with visit.writing():
            services.create_account(
                username=(form.get("username") or "")[:60],
                display_name=(form.get("display_name") or "")[:61], role=role,
                password=(form.get("password") or "")[:1025],
                email=(form.get("email") or "").strip()[:121] or None,
                region_prefix=(form.get("region_prefix") or "").strip()[:13] or None,
                created_by=visit.actor)
    except InvalidInput as exc:
        return _page(visit, errors={field: str(FIELD_MESSAGES.get(field, exc.detail or ""))
                                    for field in (exc.errors or {"_form": ""})}, status=422)
    except Conflict:
        return _page(visit, errors={"username": _("This username is taken.")}, status=409)
    return redirect(url_for("hub_accounts.accounts", done="created"), 303)


@console_page(blp, "/<int:account_id>/deactivate", needs="admin", methods=("POST",))
def deactivate(visit: Visit, account_id: int) -> Any:
    try:
        with visit.writing():
            services.deactivate_account(services.get_account(account_id), by=visit.principal)
    except Conflict as exc:
        message = {
            "You cannot deactivate your own account.":
                _("You cannot deactivate your own account."),
            "The last active administrator cannot be deactivated.":
                _("The last active administrator cannot be deactivated."),
        }.get(exc.detail or "", _("This account is already deactivated."))
        return _page(visit, errors={"_form": message}, status=409)
    return redirect(url_for("hub_accounts.accounts", done="deactivated"), 303)
