"""The console's organization tree: browse, create, edit, move and dissolve.

The tree is readable by every console user; changing it is the organization department's
(`services.STRUCTURE_ROLE`): the forms are offered only where `may_change_structure` says so,
and anyone else who posts one gets the services' refusal as a readable 403 page.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask_babel import gettext as _

from node.grants.models import Role
from node.members.services import MemberFilter, list_members
from node.orgs import services
from node.orgs.models import OfficerPosition, Org
from node.orgs.schemas import (
    OfficerCreateSchema,
    OfficerEndSchema,
    OrgCreateSchema,
    OrgDissolveSchema,
    OrgMoveSchema,
    OrgUpdateSchema,
)
from node.web import labels
from node.web.console import (
    FormErrors,
    Visit,
    account_page,
    field_errors,
    forbidden_page,
    load_form,
)
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

blp = Blueprint("org_pages", __name__)

TREE_LIMIT = 5000
ORG_FIELDS = ("name", "short_name", "external_code", "description", "public_description",
              "is_village_or_community", "founded_on")


@dataclasses.dataclass
class Node:
    org: Org
    children: list[Node] = dataclasses.field(default_factory=list)


def _tree(orgs: list[Org]) -> list[Node]:
    """Nest the orgs (in code order, so parents come first) under their parents."""
    nodes = {org.id: Node(org) for org in orgs}
    roots = []
    for org in orgs:
        parent = nodes.get(org.parent_id) if org.parent_id is not None else None
        (parent.children if parent is not None else roots).append(nodes[org.id])
    return roots


def _refused() -> Any:
    return forbidden_page(_("Changing the organization tree is for the organization "
                            "department's administrators."))


@account_page(blp, "/console/orgs", needs="console")
def tree(visit: Visit) -> Any:
    dissolved = request.args.get("dissolved") == "1"
    orgs = list(services.list_orgs(include_dissolved=dissolved, limit=TREE_LIMIT))
    return render_template("orgs/tree.html", roots=_tree(orgs), dissolved=dissolved,
                           count=len(orgs))


def _detail_page(visit: Visit, org: Org, errors: dict[str, dict[str, str]] | None = None,
                 status: int = 200) -> Any:
    parent = services.get_org(org.parent_id) if org.parent_id is not None else None
    children = services.list_orgs(parent_id=org.id, include_dissolved=True, limit=TREE_LIMIT)
    may_change = services.may_change_structure(visit.principal, org)
    parents = []
    if may_change and org.parent_id is not None:
        parents = [o for o in services.list_orgs(limit=TREE_LIMIT)
                   if org.kind in services.ALLOWED_CHILDREN[o.kind]
                   and not o.code.startswith(org.code) and o.id != org.parent_id
                   and services.may_change_structure(visit.principal, o)]
    may_staff = visit.principal.can(Role.org_admin, org.code) and org.dissolved_on is None
    members = (list_members(visit.principal, MemberFilter(org_id=org.id, subtree=False),
                            after=None, limit=500) if may_staff else [])
    return render_template(
        "orgs/detail.html", org=org, parent=parent, children=children,
        officers=services.list_officers(org, current_only=True), may_staff=may_staff,
        member_options=[(m["id"], m["name"]) for m in members],
        position_options=[(p.value, labels.officer_position(p)) for p in OfficerPosition],
        warnings=services.org_warnings(org, visit.tenant), may_change=may_change,
        parents=parents, errors=errors or {},
        form=request.form if request.method == "POST" else {},
        child_kinds=sorted(services.ALLOWED_CHILDREN[org.kind])), status


@account_page(blp, "/console/orgs/<int:org_id>", needs="console")
def detail(visit: Visit, org_id: int) -> Any:
    return _detail_page(visit, services.get_org(org_id))


@account_page(blp, "/console/orgs/new", needs="console", methods=("GET", "POST"))
def create(visit: Visit) -> Any:
    raw = request.values.get("parent_id", "")
    if not (raw.isdigit() and len(raw) < 10):
        raise NotFound()
    parent = services.get_org(int(raw))
    if not services.may_change_structure(visit.principal, parent):
        return _refused()
    kinds = sorted(services.ALLOWED_CHILDREN[parent.kind])

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {"kind": kinds[0] if kinds
                                                                 else ""}
        return render_template("orgs/form.html", parent=parent, org=None, kinds=kinds,
                               values=values, errors=errors or {}), status

    if request.method == "GET":
        return page()
    try:
        data = load_form(OrgCreateSchema(), ("parent_id", "kind", *ORG_FIELDS))
        with visit.writing():
            org = services.create_org(visit.principal, data)  # type: ignore[arg-type]
            org_id = org.id
    except FormErrors as exc:
        return page(exc.errors, 400)
    except Forbidden:
        return _refused()
    except (InvalidInput, Conflict) as exc:
        return page(field_errors(exc), 400)
    flash(_("The organization has been created."), "success")
    return redirect(visit.url("org_pages.detail", org_id=org_id), 303)


@account_page(blp, "/console/orgs/<int:org_id>/edit", needs="console", methods=("GET", "POST"))
def edit(visit: Visit, org_id: int) -> Any:
    org = services.get_org(org_id)
    if not services.may_change_structure(visit.principal, org):
        return _refused()
    kinds = [org.kind] if org.parent_id is None else sorted(
        services.ALLOWED_CHILDREN[services.get_org(org.parent_id).kind])

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {
            name: getattr(org, name) for name in ("kind", *ORG_FIELDS)}
        return render_template("orgs/form.html", parent=None, org=org, kinds=kinds,
                               values=values, errors=errors or {}), status

    if request.method == "GET":
        return page()
    try:
        data = load_form(OrgUpdateSchema(), ("kind", *ORG_FIELDS))
        with visit.writing():
            services.update_org(visit.principal, services.get_org(org_id), data)
    except FormErrors as exc:
        return page(exc.errors, 400)
    except Forbidden:
        return _refused()
    except (InvalidInput, Conflict) as exc:
        org = services.get_org(org_id)
        return page(field_errors(exc), 400)
    flash(_("The organization has been saved."), "success")
    return redirect(visit.url("org_pages.detail", org_id=org_id), 303)


def _change(visit: Visit, org_id: int, form_name: str, schema: Any, names: tuple[str, ...],
            apply: Any, done: str) -> Any:
    org = services.get_org(org_id)
    try:
        data = load_form(schema, names)
        with visit.writing():
            apply(services.get_org(org_id), data)
    except FormErrors as exc:
        return _detail_page(visit, org, {form_name: exc.errors}, 400)
    except Forbidden:
        return _refused()
    except (InvalidInput, Conflict) as exc:
        errors = field_errors(exc)
        if exc.extra.get("members") or exc.extra.get("open_children"):
            errors = {"_form": _("Move its %(members)s members and %(children)s "
                                 "sub-organizations first.",
                                 members=exc.extra.get("members", 0),
                                 children=exc.extra.get("open_children", 0))}
        return _detail_page(visit, services.get_org(org_id), {form_name: errors},
                            409 if isinstance(exc, Conflict) else 400)
    flash(done, "success")
    return redirect(visit.url("org_pages.detail", org_id=org_id), 303)


@account_page(blp, "/console/orgs/<int:org_id>/move", needs="console", methods=("POST",))
def move(visit: Visit, org_id: int) -> Any:
    return _change(visit, org_id, "move", OrgMoveSchema(), ("new_parent_id", "reason"),
                   lambda org, data: services.move_org(visit.principal, org, **data),
                   _("The organization has been moved; its codes have been reallocated."))


@account_page(blp, "/console/orgs/<int:org_id>/dissolve", needs="console", methods=("POST",))
def dissolve(visit: Visit, org_id: int) -> Any:
    return _change(visit, org_id, "dissolve", OrgDissolveSchema(), ("dissolved_on",),
                   lambda org, data: services.dissolve_org(visit.principal, org, **data),
                   _("The organization has been dissolved."))



OFFICER_FIELDS = ("position", "member_id", "name", "term_start")


@account_page(blp, "/console/orgs/<int:org_id>/officers", needs="console", methods=("POST",))
def add_officer(visit: Visit, org_id: int) -> Any:
    """Record an officer (a member of the organization, or a name) from a date."""
    return _change(visit, org_id, "officer", OfficerCreateSchema(), OFFICER_FIELDS,
                   lambda org, data: services.add_officer(visit.principal, org, data),
                   _("The officer has been recorded."))


@account_page(blp, "/console/orgs/<int:org_id>/officers/<int:officer_id>/end",
              needs="console", methods=("POST",))
def end_officer_term(visit: Visit, org_id: int, officer_id: int) -> Any:
    return _change(visit, org_id, f"end-{officer_id}", OfficerEndSchema(), ("term_end",),
                   lambda org, data: services.end_officer_term(visit.principal, org,
                                                               officer_id, **data),
                   _("The term has been ended."))
