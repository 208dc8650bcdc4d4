"""The console's roles: the grants in one's scope, granting and revoking.

The delegation rule (逐级授权: only roles no stronger than one's own, inside one's scope) is
the service's (`create_grant`, `revoke_grant`); a refused grant is shown next to the form.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask_babel import gettext as _

from node.accounts.services import list_accounts
from node.grants import services
from node.grants.models import Role
from node.grants.schemas import GrantCreateSchema
from node.orgs.services import list_orgs
from node.web.console import (
    FormErrors,
    Visit,
    account_page,
    explain,
    field_errors,
    load_form,
    query_int,
)
from shared.errors import Conflict, Forbidden, InvalidInput

blp = Blueprint("grant_pages", __name__)

PAGE_SIZE = 100


def _page(visit: Visit, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    after = query_int("after")
    grants = services.grant_views(visit.principal, after_id=after, limit=PAGE_SIZE)
    orgs = []
    for prefix in visit.principal.prefixes(Role.org_admin):
        orgs.extend(list_orgs(within_code=prefix, limit=5000))
    return render_template(
        "grants/list.html", grants=grants, errors=errors or {},
        form=request.form if request.method == "POST" else {},
        accounts=[a for a in list_accounts(visit.principal, limit=1000) if a.is_active],
        orgs=orgs, roles=list(Role), my_roles=services.grantable_roles(visit.principal),
        next_after=grants[-1].id if len(grants) == PAGE_SIZE else None), status


@account_page(blp, "/console/grants", needs="admin", methods=("GET", "POST"))
def grants(visit: Visit) -> Any:
    if request.method == "GET":
        return _page(visit)
    try:
        data = load_form(GrantCreateSchema(), ("account_id", "role", "org_id"))
        with visit.writing():
            services.create_grant(visit.principal, **data)
    except FormErrors as exc:
        return _page(visit, exc.errors, 400)
    except Forbidden as exc:
        return _page(visit, {**field_errors(exc), "_form": explain(exc)}, 403)
    except (InvalidInput, Conflict) as exc:
        return _page(visit, field_errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(_("The role has been granted."), "success")
    return redirect(visit.url("grant_pages.grants"), 303)


@account_page(blp, "/console/grants/<int:grant_id>/revoke", needs="admin", methods=("POST",))
def revoke(visit: Visit, grant_id: int) -> Any:
    try:
        with visit.writing():
            services.revoke_grant(visit.principal, grant_id)
    except (Forbidden, Conflict) as exc:
        return _page(visit, {"_form": field_errors(exc).get("_form") or _(
            "The role was not revoked.")}, exc.status)
    flash(_("The role has been revoked."), "success")
    return redirect(visit.url("grant_pages.grants"), 303)
