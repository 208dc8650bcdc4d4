"""Member pages: one's own activity card, self-declared details and a printable card; and the
console's members: search, detail with history, registration and changes.

Views translate HTTP only: input is read with the API's schemas, every rule (reach, the
pipeline, dated history, who may edit what) is the services' (`node.members.services`).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request
from flask_babel import gettext as _

from node.grants.models import Role
from node.meetings.services import member_meetings
from node.members import services
from node.members.models import SELF_DECLARED_FIELDS, STAGE_ORDER, Education, Member, Stage, Status
from node.members.schemas import (
    MemberCreateSchema,
    MemberMoveSchema,
    MemberQueryArgsSchema,
    MemberUpdateSchema,
    SelfDeclaredSchema,
    StageChangeCreateSchema,
    StatusChangeCreateSchema,
)
from node.orgs.models import Org, OrgKind
from node.orgs.services import list_orgs
from node.web import labels
from node.web.console import (
    FormErrors,
    Visit,
    account_page,
    field_errors,
    is_partial_request,
    load_form,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.rules import RuleWarning
from shared.web.pagination import decode_cursor, encode_cursor

blp = Blueprint("member_pages", __name__)

PAGE_SIZE = 50
EDIT_FIELDS = ("name", "ethnicity", "education", "applied_on", "admitted_on", "full_on",
               *SELF_DECLARED_FIELDS)
CREATE_FIELDS = ("org_id", "name", "national_id", "stage", "stage_since", "ethnicity",
                 "education", *SELF_DECLARED_FIELDS)


def org_choices(visit: Visit, role: Role, *, members_only: bool = False) -> list[Org]:
    """Organizations in the principal's reach for `role`, in tree order; `members_only`
    leaves out party groups, which hold no members (the services refuse them anyway)."""
    orgs: list[Org] = []
    for prefix in visit.principal.prefixes(role):
        orgs.extend(list_orgs(within_code=prefix, limit=2000))
    if members_only:
        orgs = [org for org in orgs if org.kind != OrgKind.group]
    return orgs


# --- the member's own pages -------------------------------------------------------------------

def _card_context(member: Member) -> dict[str, Any]:
    return {"card": services.activity_card(member), "member": member,
            "party_age": services.party_age(member),
            "meetings": member_meetings(member.id)}


@account_page(blp, "/me")
def my_card(visit: Visit) -> Any:
    member = services.own_member(visit.principal)
    return render_template("members/my_card.html", **_card_context(member))


@account_page(blp, "/me/print")
def my_card_print(visit: Visit) -> Any:
    member = services.own_member(visit.principal)
    return render_template("members/print.html", **_card_context(member),
                           back=visit.url("member_pages.my_card"))


@account_page(blp, "/me/edit", methods=("GET", "POST"))
def my_details(visit: Visit) -> Any:
    member = services.own_member(visit.principal)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {
            name: getattr(member, name) or "" for name in SELF_DECLARED_FIELDS}
        return render_template("members/edit_self.html", member=member, values=values,
                               errors=errors or {}), status

    if request.method == "GET":
        return page()
    try:
        data = load_form(SelfDeclaredSchema(), SELF_DECLARED_FIELDS)
        with visit.writing():
            services.update_self_declared(services.own_member(visit.principal), data)
    except FormErrors as exc:
        return page(exc.errors, 400)
    except InvalidInput as exc:
        return page(field_errors(exc), 400)
    flash(_("Your details have been saved."), "success")
    return redirect(visit.url("member_pages.my_card"), 303)


# --- the console: overview --------------------------------------------------------------------

@account_page(blp, "/console", needs="console")
def console_home(visit: Visit) -> Any:
    counts = services.count_by_stage(visit.principal)
    return render_template("console/home.html", counts=counts, total=sum(counts.values()),
                           chart_labels=[labels.stage(stage) for stage in counts])


# --- the console: members ---------------------------------------------------------------------

@account_page(blp, "/console/members", needs="console")
def member_list(visit: Visit) -> Any:
    raw = {key: value for key, value in request.args.items()
           if key in ("org_id", "stage", "status", "q", "flagged", "cursor")
           and value.strip()}
    raw["limit"] = str(PAGE_SIZE)
    error = None
    rows: list[Any] = []
    next_cursor = None
    try:
        args = MemberQueryArgsSchema().load(raw)
        after = decode_cursor(args.pop("cursor"), (str, int))
        args.pop("limit")
        rows = list(services.list_members(
            visit.principal, services.MemberFilter(**args),
            after=(after[0], after[1]) if after else None, limit=PAGE_SIZE))
    except (ma.ValidationError, InvalidInput, NotFound):
        error = _("The search could not be understood; check the filters.")
    if len(rows) == PAGE_SIZE:
        last = rows[-1]
        next_cursor = encode_cursor([last["org_code"], last["id"]])
    orgs = org_choices(visit, Role.org_viewer)
    names = {org.id: org.name for org in orgs}
    next_args = {**{k: v for k, v in raw.items() if k not in ("cursor", "limit")},
                 "cursor": next_cursor} if next_cursor else None
    if is_partial_request():  # the filters, updating the results in place
        return render_template("members/_results.html", rows=rows, error=error,
                               org_names=names, next_args=next_args, partial=True)
    return render_template("members/list.html", rows=rows, error=error, orgs=orgs,
                           org_names=names, args=request.args, stages=STAGE_ORDER,
                           statuses=list(Status), next_args=next_args,
                           can_register=visit.is_admin)


@account_page(blp, "/console/members/new", needs="admin", methods=("GET", "POST"))
def member_new(visit: Visit) -> Any:
    orgs = org_choices(visit, Role.org_admin, members_only=True)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {
            "org_id": request.args.get("org_id", ""), "stage": Stage.applicant.value}
        return render_template("members/new.html", orgs=orgs, values=values,
                               errors=errors or {}, stages=STAGE_ORDER,
                               educations=list(Education)), status

    if request.method == "GET":
        return page()
    try:
        data = load_form(MemberCreateSchema(), CREATE_FIELDS)
        with visit.writing():
            member = services.create_member(visit.principal, visit.tenant, data)
            member_id, number = member.id, member.member_number
    except FormErrors as exc:
        return page(exc.errors, 400)
    except (InvalidInput, Conflict) as exc:
        return page(field_errors(exc), 400)
    flash(_("The member has been registered with number %(number)s.", number=number),
          "success")
    return redirect(visit.url("member_pages.member_detail", member_id=member_id), 303)


def _detail_page(visit: Visit, member: Member, errors: dict[str, dict[str, str]] | None = None,
                 status: int = 200, warnings: list[str] | None = None,
                 revealed: str | None = None) -> Any:
    current = STAGE_ORDER.index(member.stage)
    next_stage = STAGE_ORDER[current + 1] if current + 1 < len(STAGE_ORDER) else None
    can_edit = visit.principal.can(Role.org_admin, member.org_code)
    return render_template(
        "members/detail.html", **_card_context(member), errors=errors or {},
        form=request.form if request.method == "POST" else {}, next_stage=next_stage,
        stages=STAGE_ORDER, statuses=[s for s in Status if s != Status.transferred_out],
        can_edit=can_edit, warnings=warnings or [], revealed=revealed,
        orgs=org_choices(visit, Role.org_admin, members_only=True) if can_edit else []
    ), status


@account_page(blp, "/console/members/<int:member_id>", needs="console")
def member_detail(visit: Visit, member_id: int) -> Any:
    return _detail_page(visit, services.get_member(visit.principal, member_id))


@account_page(blp, "/console/members/<int:member_id>/print", needs="console")
def member_print(visit: Visit, member_id: int) -> Any:
    member = services.get_member(visit.principal, member_id)
    return render_template("members/print.html", **_card_context(member),
                           back=visit.url("member_pages.member_detail", member_id=member_id))


def _change(visit: Visit, member_id: int, form_name: str, schema: Any,
            names: tuple[str, ...], apply: Any, done: str) -> Any:
    """One of the detail page's forms: read, apply in one transaction, or show why not."""
    member = services.get_member(visit.principal, member_id)
    warnings: list[RuleWarning] = []
    try:
        data = load_form(schema, names)
        with visit.writing():
            member = services.get_member(visit.principal, member_id)
            warnings = apply(member, data) or []
    except FormErrors as exc:
        return _detail_page(visit, member, {form_name: exc.errors}, 400)
    except (InvalidInput, Conflict) as exc:
        return _detail_page(visit, services.get_member(visit.principal, member_id),
                            {form_name: field_errors(exc)}, 409 if isinstance(exc, Conflict)
                            else 400)
    flash(done, "success")
    for warning in warnings if isinstance(warnings, list) else []:
        flash(_("Note: %(warning)s", warning=labels.warning_text(warning)), "warning")
    return redirect(visit.url("member_pages.member_detail", member_id=member_id), 303)


@account_page(blp, "/console/members/<int:member_id>/stage", needs="admin", methods=("POST",))
def member_stage(visit: Visit, member_id: int) -> Any:
    return _change(visit, member_id, "stage", StageChangeCreateSchema(),
                   ("to_stage", "effective_on", "note"),
                   lambda member, data: services.change_stage(visit.principal, member, **data),
                   _("The stage has been changed."))


@account_page(blp, "/console/members/<int:member_id>/status", needs="admin", methods=("POST",))
def member_status(visit: Visit, member_id: int) -> Any:
    def apply(member: Member, data: dict[str, Any]) -> None:
        services.change_status(visit.principal, member, **data)

    return _change(visit, member_id, "status", StatusChangeCreateSchema(),
                   ("to_status", "effective_on", "reason"), apply,
                   _("The status has been changed."))


@account_page(blp, "/console/members/<int:member_id>/move", needs="admin", methods=("POST",))
def member_move(visit: Visit, member_id: int) -> Any:
    def apply(member: Member, data: dict[str, Any]) -> None:
        services.move_member(visit.principal, member, **data)

    return _change(visit, member_id, "move", MemberMoveSchema(),
                   ("to_org_id", "effective_on", "reason"), apply,
                   _("The member has been moved."))


@account_page(blp, "/console/members/<int:member_id>/edit", needs="admin",
              methods=("GET", "POST"))
def member_edit(visit: Visit, member_id: int) -> Any:
    member = services.get_member(visit.principal, member_id, Role.org_admin)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {
            name: getattr(member, name) for name in EDIT_FIELDS}
        return render_template("members/edit.html", member=member, values=values,
                               errors=errors or {}, educations=list(Education)), status

    if request.method == "GET":
        return page()
    try:
        data = load_form(MemberUpdateSchema(), EDIT_FIELDS)
        with visit.writing():
            services.update_member(visit.principal,
                                   services.get_member(visit.principal, member_id), data)
    except FormErrors as exc:
        return page(exc.errors, 400)
    except (InvalidInput, Conflict) as exc:
        member = services.get_member(visit.principal, member_id, Role.org_admin)
        return page(field_errors(exc), 400)
    flash(_("The record has been saved."), "success")
    return redirect(visit.url("member_pages.member_detail", member_id=member_id), 303)


@account_page(blp, "/console/members/<int:member_id>/national-id", needs="admin",
              methods=("POST",))
def member_national_id(visit: Visit, member_id: int) -> Any:
    """Show the full national ID once: the API's audited reveal (organization administrators
    of the member; anyone else gets the 404 the reach rules give)."""
    with visit.writing():
        member = services.get_member(visit.principal, member_id)
        revealed = services.reveal_national_id(visit.principal, member)
    if is_partial_request():
        return render_template("members/_national_id.html", member=member, revealed=revealed)
    return _detail_page(visit, services.get_member(visit.principal, member_id),
                        revealed=revealed)
