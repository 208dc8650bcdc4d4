"""Transfer pages (组织关系转接): the member's application and its progress; the secretaries'
inboxes (to approve, letters out, incoming, receipts, to correct, overdue) with deadlines; a
transfer with its approvals, event trail and the buttons its state allows; the printable
letter (PDF).

Views translate HTTP only: who may do what and when is the saga's (`node.transfers.services`:
`may` lists the actions a principal may take on a side now, and every action checks again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.audit.recording import record
from node.db import db
from node.grants.models import Role
from node.members.models import Member, Status
from node.members.services import MemberFilter, list_members
from node.orgs.models import OrgKind
from node.orgs.services import list_orgs
from node.transfers import services
from node.transfers.letter import LetterFontMissing, render_letter
from node.transfers.models import Side, State, Transfer
from node.web.console import (
    FormErrors,
    FormReader,
    Visit,
    account_page,
    field_errors,
)
from node.web.responses import page_error
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

blp = Blueprint("transfer_pages", __name__)

STATES = {
    State.applied: _l("Applied"), State.approving: _l("Under approval"),
    State.issued: _l("Letter issued"), State.delivered: _l("Letter arrived"),
    State.claimed: _l("Asked to release"), State.received: _l("Received"),
    State.closed: _l("Closed"), State.rejected: _l("Rejected"),
    State.cancelled: _l("Cancelled"), State.expired: _l("Expired"),
    State.refused: _l("Refused by the sender"),
}
#: On the sending side `received` means the member has left (transferred out).
OUT_RECEIVED = _l("Received there; awaiting the receipt")
EVENTS = {
    "applied": _l("Applied"), "approved": _l("Approved"), "declined": _l("Declined"),
    "issued": _l("Letter issued"), "resent": _l("Corrected and sent again"),
    "reissued": _l("Letter reissued"), "voided_reissued": _l("Letter voided and reissued"),
    "letter_received": _l("Letter arrived"), "branch_assigned": _l("Receiving branch assigned"),
    "claimed": _l("Asked the sender to release"), "released": _l("Released by the sender"),
    "claim_refused": _l("Release refused"), "received": _l("Member received"),
    "closed": _l("Receipt returned; closed"), "rejected": _l("Rejected"),
    "undeliverable": _l("Could not be delivered"), "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
}
REJECT_REASONS = {
    "refused": _l("Refused (say why)"), "unknown_org": _l("Not our organization"),
    "already_active": _l("Already a member here"), "other": _l("Other"),
}
#: The inboxes: what each lists.
BOXES = {
    "todo": _l("To approve"), "out": _l("Letters out"), "incoming": _l("Incoming"),
    "receipts": _l("Awaiting receipt"), "correct": _l("To correct or reissue"),
    "overdue": _l("Overdue"), "all": _l("All"),
}
MESSAGES = {
    "Unknown tenant.": _l("Choose an organization department from the list."),
    "Unknown organization.": _l("There is no organization with this code there."),
    "Unknown member.": _l("Choose a member in your scope."),
    "A transfer is under way.": _l("This member already has a transfer under way."),
    "Not a member.": _l("Only probationary and full members have a relationship to transfer."),
    "The member's own organization.": _l("The member is already in this organization."),
    "Not a branch under the addressed organization.":
        _l("Choose a branch under the addressed organization."),
    "Only a member on the rolls can be transferred.":
        _l("Only a member on the rolls can be transferred."),
    "Nothing waits for an approval here.": _l("Nothing waits for an approval here."),
    "Nothing waits for a decision here.": _l("Nothing waits for a decision here."),
    "Only a rejected transfer is corrected and sent again.":
        _l("Only a rejected transfer is corrected and sent again."),
    "Only an expired letter is reissued.": _l("Only an expired letter is reissued."),
    "Only a letter that is out can be voided.": _l("Only a letter that is out can be voided."),
    "The transfer can no longer be cancelled.": _l("The transfer can no longer be cancelled."),
    "A receiving branch is assigned to an incoming letter under approval.":
        _l("A receiving branch is assigned to an incoming letter under approval."),
    "The receiving chain has already moved below the committee.":
        _l("The receiving chain has already moved below the committee."),
    "A rejection needs a reason.": _l("Give the reason: no organization refuses without cause."),
    "No valid letter to print.": _l("There is no valid letter to print."),
    "The issuing committee's administrators print the letter.":
        _l("The letter is printed by the issuing committee's administrators."),
    "The addressed organization's administrators print the letter.":
        _l("The letter is printed by the administrators of the organization it is "
           "addressed to."),
}


def _say(message: str) -> str | None:
    found = MESSAGES.get(message)
    if found is not None:
        return str(found)
    if message.startswith("The letter expired on "):
        return _("The letter has expired; the sending organization may reissue it.")
    if message.startswith("Not an organization of "):
        return _("The organization code does not belong to that organization department.")
    return None


def _errors(exc: Any) -> dict[str, str]:
    errors = field_errors(exc)
    for key, messages in (exc.errors or {}).items():
        text = messages[0] if isinstance(messages, list | tuple) and messages else str(messages)
        said = _say(str(text))
        if said is not None:
            errors[key] = said
    said = _say(str(exc.detail or exc.title))
    if said is not None:
        errors["_form"] = said
    return errors


def now_utc() -> dt.datetime:
    return services.clock()


def is_overdue(t: Transfer, now: dt.datetime) -> bool:
    """Open past its validity, or (sending side) released long ago with no receipt."""
    if t.state in (State.issued, State.delivered, State.approving, State.claimed) \
            and t.valid_until is not None and t.valid_until < now:
        return True
    return (t.side == Side.out and t.state == State.received and t.released_at is not None
            and t.released_at < now - services.RECEIPT_OVERDUE)


@blp.app_template_global()
def transfer_state(t: Transfer) -> str:
    if t.side == Side.out and t.state == State.received:
        return str(OUT_RECEIVED)
    return str(STATES[t.state])


@blp.app_template_global()
def transfer_event(action: str) -> str:
    return str(EVENTS.get(action, action))


@blp.app_template_global()
def transfer_overdue(t: Transfer) -> bool:
    return is_overdue(t, now_utc())


# --- the inboxes --------------------------------------------------------------------------------

def _box(visit: Visit, box: str) -> Sequence[Transfer]:
    """One inbox, newest first (a box of several states: one query per state)."""
    F = services.TransferFilter
    filters = {
        "todo": [F(actionable=True)],
        "out": [F(side=Side.out, state=State.issued)],
        "incoming": [F(side=Side.in_, state=state) for state in services.IN_OPEN],
        "receipts": [F(side=Side.out, state=State.received)],
        "correct": [F(side=Side.out, state=State.rejected), F(side=Side.out,
                                                              state=State.expired)],
        "overdue": [F(overdue=True)],
        "all": [F()],
    }[box]
    rows = {t.id: t for flt in filters
            for t in services.list_transfers(visit.principal, flt, limit=200)}
    return sorted(rows.values(), key=lambda t: t.id, reverse=True)[:200]


@account_page(blp, "/console/transfers", needs="console")
def inbox(visit: Visit) -> Any:
    box = request.args.get("box", "todo")
    if box not in BOXES:
        box = "todo"
    counts = {key: len(_box(visit, key)) for key in BOXES if key != "all"}
    return render_template("transfers/inbox.html", box=box, boxes=BOXES, counts=counts,
                           rows=_box(visit, box), now=now_utc(), can_apply=visit.is_admin,
                           can_set_rules=visit.is_tenant_admin)


@account_page(blp, "/console/transfers/rules", needs="tenant_admin", methods=("GET", "POST"))
def rules(visit: Visit) -> Any:
    """The tenant's transfer rules: a shorter validity, automatic approvals."""
    from node.tenants.models import Tenant

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        tenant = db.session.get(Tenant, visit.tenant.id)
        assert tenant is not None
        values: Any = request.form if request.method == "POST" else {
            "validity_days": str(services.tenant_rule(tenant, "transfer_validity_days")),
            "auto_approve": bool(services.tenant_rule(tenant, "transfer_auto_approve"))}
        return render_template("transfers/rules.html", values=values, errors=errors or {},
                               maximum=services.VALIDITY_MAX.days), status

    if request.method == "GET":
        return page()
    form = FormReader()
    days = form.integer("validity_days", required=True, high=services.VALIDITY_MAX.days)
    try:
        form.check()
        with visit.writing():
            services.set_transfer_rules(visit.principal, db.session.get(Tenant, visit.tenant.id),
                                        validity_days=days,
                                        auto_approve="auto_approve" in request.form)
    except FormErrors as exc:
        return page(exc.errors, 400)
    except InvalidInput as exc:
        return page(_errors(exc), 400)
    flash(_("The transfer rules have been saved."), "success")
    return redirect(visit.url("transfer_pages.rules"), 303)


# --- applying ----------------------------------------------------------------------------------

def _destination_options() -> list[tuple[str, str]]:
    return [(p.slug, p.name) for p in services.destinations()]


def _transfer_candidates(visit: Visit) -> list[tuple[int, str]]:
    rows = list_members(visit.principal, MemberFilter(), after=None, limit=2000)
    return [(r["id"], f"{r['name']} ({r['member_number']})") for r in rows
            if r["stage"] in services.MEMBER_STAGES and r["status"] in services.MAY_TRANSFER
            and visit.principal.can(Role.org_admin, r["org_code"])]


def _apply_page(visit: Visit, *, own: bool) -> Any:
    endpoint = "transfer_pages.my_apply" if own else "transfer_pages.apply_page"

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values: Any = request.form if request.method == "POST" else {
            "member_id": request.args.get("member_id", ""), "to_tenant": visit.tenant.slug}
        return render_template(
            "transfers/apply.html", own=own, endpoint=endpoint, values=values,
            errors=errors or {}, destinations=_destination_options(),
            members=[] if own else _transfer_candidates(visit)), status

    if request.method == "GET":
        return page()
    form = FormReader()
    member_id = None if own else form.integer("member_id", required=True)
    to_tenant = form.text("to_tenant", max_length=40, required=True)
    to_org_code = form.text("to_org_code", max_length=64, required=True)
    reason = form.text("reason", max_length=255, required=True)
    try:
        form.check()
        with visit.writing():
            t = services.apply_transfer(visit.principal, member_id=member_id,
                                        to_tenant=to_tenant or "", to_org_code=to_org_code or "",
                                        reason=reason or "")
            transfer_id = t.id
    except FormErrors as exc:
        return page(exc.errors, 400)
    except (InvalidInput, Conflict) as exc:
        return page(_errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(_("The application has been made; it now goes up for approval."), "success")
    target = "transfer_pages.my_transfer" if own else "transfer_pages.detail"
    return redirect(visit.url(target, transfer_id=transfer_id), 303)


@account_page(blp, "/console/transfers/new", needs="admin", methods=("GET", "POST"))
def apply_page(visit: Visit) -> Any:
    """A secretary applies on a member's behalf."""
    return _apply_page(visit, own=False)


@account_page(blp, "/me/transfers/new", methods=("GET", "POST"))
def my_apply(visit: Visit) -> Any:
    """The member applies for their own transfer."""
    if visit.principal.member_id is None:
        raise NotFound()
    return _apply_page(visit, own=True)


# --- one transfer --------------------------------------------------------------------------------

def _branches(visit: Visit, t: Transfer) -> list[tuple[int, str]]:
    if t.side != Side.in_ or not visit.principal.can(Role.org_admin, t.to_org_code):
        return []
    return [(o.id, o.name) for o in list_orgs(within_code=t.to_org_code, limit=2000)
            if o.kind in (OrgKind.branch, OrgKind.joint_branch, OrgKind.general_branch)]


def _detail(visit: Visit, t: Transfer, *, own: bool, errors: dict[str, str] | None = None,
            status: int = 200) -> Any:
    view = services.transfer_view(visit.principal, t)
    actions = set(view.actions)
    if own:  # the member's own page offers what a member may do: cancel the application
        actions &= {"cancel"}
    return render_template(
        "transfers/detail.html", t=t, view=view, actions=actions, own=own,
        errors=errors or {}, now=now_utc(), overdue=is_overdue(t, now_utc()),
        branches=_branches(visit, t) if "assign" in actions or "approve" in actions else [],
        destinations=_destination_options() if "resend" in actions else [],
        reject_reasons=[(k, str(v)) for k, v in REJECT_REASONS.items()],
        may_print=services.may_print(visit.principal, t)), status


@account_page(blp, "/console/transfers/<int:transfer_id>", needs="console")
def detail(visit: Visit, transfer_id: int) -> Any:
    return _detail(visit, services.get_transfer(visit.principal, transfer_id), own=False)


def _own(visit: Visit, transfer_id: int) -> Transfer:
    t = services.get_transfer(visit.principal, transfer_id)
    if t.side != Side.out or t.member_id is None or t.member_id != visit.principal.member_id:
        raise NotFound()
    return t


@account_page(blp, "/me/transfers")
def my_transfers(visit: Visit) -> Any:
    if visit.principal.member_id is None:
        raise NotFound()
    rows = [t for t in services.list_transfers(visit.principal,
                                               services.TransferFilter(side=Side.out),
                                               limit=200)
            if t.member_id == visit.principal.member_id]
    member = db.session.get(Member, visit.principal.member_id)
    open_ = any(t.state in services.OUT_OPEN for t in rows)
    may_apply = (member is not None and member.stage in services.MEMBER_STAGES
                 and member.status in services.MAY_TRANSFER and not open_)
    return render_template("transfers/mine.html", rows=rows, now=now_utc(),
                           may_apply=may_apply, transferred=member is not None
                           and member.status == Status.transferred_out)


@account_page(blp, "/me/transfers/<int:transfer_id>")
def my_transfer(visit: Visit, transfer_id: int) -> Any:
    return _detail(visit, _own(visit, transfer_id), own=True)


# --- actions -----------------------------------------------------------------------------------

def _act(visit: Visit, transfer_id: int, action: Callable[[], Any], done: str, *,
         own: bool = False) -> Any:
    """One of the detail page's buttons: apply in one transaction, or show why not."""
    try:
        with visit.writing():
            action()
    except FormErrors as exc:
        t = services.get_transfer(visit.principal, transfer_id)
        return _detail(visit, t, own=own, errors=exc.errors, status=400)
    except (InvalidInput, Conflict) as exc:
        t = services.get_transfer(visit.principal, transfer_id)
        return _detail(visit, t, own=own, errors=_errors(exc),
                       status=409 if isinstance(exc, Conflict) else 400)
    flash(done, "success")
    target = "transfer_pages.my_transfer" if own else "transfer_pages.detail"
    return redirect(visit.url(target, transfer_id=transfer_id), 303)


def _text(name: str, *, required: bool, max_length: int = 500) -> str | None:
    form = FormReader()
    value = form.text(name, max_length=max_length, required=required)
    form.check()
    return value


@account_page(blp, "/console/transfers/<int:transfer_id>/approve", needs="admin",
              methods=("POST",))
def approve(visit: Visit, transfer_id: int) -> Any:
    def run() -> None:
        form = FormReader()
        note = form.text("note", max_length=500)
        branch = form.integer("branch_id")
        form.check()
        services.approve(visit.principal, transfer_id, note=note, branch_id=branch)
    return _act(visit, transfer_id, run, _("Approved."))


@account_page(blp, "/console/transfers/<int:transfer_id>/reject", needs="admin",
              methods=("POST",))
def reject(visit: Visit, transfer_id: int) -> Any:
    def run() -> None:
        form = FormReader()
        reason = form.text("reason", max_length=500, required=True)
        code = request.form.get("reason_code") or "refused"
        form.check()
        services.reject(visit.principal, transfer_id, reason=reason or "", reason_code=code)
    return _act(visit, transfer_id, run,
                _("Rejected; the reason goes back to the sending organization."))


@account_page(blp, "/console/transfers/<int:transfer_id>/assign", needs="admin",
              methods=("POST",))
def assign(visit: Visit, transfer_id: int) -> Any:
    def run() -> None:
        form = FormReader()
        org_id = form.integer("branch_id", required=True)
        form.check()
        services.assign_branch(visit.principal, transfer_id, org_id=org_id or 0)
    return _act(visit, transfer_id, run, _("The receiving branch has been assigned."))


@account_page(blp, "/console/transfers/<int:transfer_id>/resend", needs="admin",
              methods=("POST",))
def resend(visit: Visit, transfer_id: int) -> Any:
    def run() -> None:
        form = FormReader()
        to_tenant = form.text("to_tenant", max_length=40)
        to_org_code = form.text("to_org_code", max_length=64)
        reason = form.text("reason", max_length=255)
        form.check()
        services.resend(visit.principal, transfer_id, to_tenant=to_tenant,
                        to_org_code=to_org_code, reason=reason)
    return _act(visit, transfer_id, run, _("Corrected: a new letter has been sent."))


@account_page(blp, "/console/transfers/<int:transfer_id>/reissue", needs="admin",
              methods=("POST",))
def reissue(visit: Visit, transfer_id: int) -> Any:
    return _act(visit, transfer_id, lambda: services.reissue(visit.principal, transfer_id),
                _("A new letter with a new validity has been issued."))


@account_page(blp, "/console/transfers/<int:transfer_id>/void", needs="admin",
              methods=("POST",))
def void(visit: Visit, transfer_id: int) -> Any:
    return _act(visit, transfer_id,
                lambda: services.void(visit.principal, transfer_id,
                                      note=_text("note", required=True) or ""),
                _("The lost letter is void; a new letter with a new serial has been issued."))


@account_page(blp, "/console/transfers/<int:transfer_id>/cancel", needs="admin",
              methods=("POST",))
def cancel(visit: Visit, transfer_id: int) -> Any:
    return _act(visit, transfer_id,
                lambda: services.cancel(visit.principal, transfer_id,
                                        reason=_text("reason", required=False)),
                _("The transfer has been cancelled."))


@account_page(blp, "/me/transfers/<int:transfer_id>/cancel", methods=("POST",))
def my_cancel(visit: Visit, transfer_id: int) -> Any:
    _own(visit, transfer_id)
    return _act(visit, transfer_id,
                lambda: services.cancel(visit.principal, transfer_id,
                                        reason=_text("reason", required=False)),
                _("Your application has been cancelled."), own=True)


# --- the printable letter ----------------------------------------------------------------------

def _letter_response(visit: Visit, t: Transfer) -> Any:
    try:
        body = services.printable_letter(visit.principal, t)
    except (Forbidden, Conflict) as exc:
        return page_error(exc.status, _say(str(exc.detail)) or str(exc.detail))
    font = current_app.extensions["node"].pdf_font
    try:
        pdf = render_letter(body, font_path=font)
    except LetterFontMissing as exc:
        current_app.logger.error("transfer letter: %s", exc.detail)
        return page_error(503, _("The letter cannot be printed: the node's Chinese font is "
                                 "not installed. Tell the node's operator."))
    with visit.writing() as session:  # who printed (the letter shows the national ID)
        record(session, action="transfer.letter_printed", entity_type="transfer",
               entity_id=t.id, scope_code=t.org_code, before=None,
               after={"serial": t.serial, "attempt": t.attempt, "side": t.side.value})
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="transfer-letter-{t.serial}.pdf"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


@account_page(blp, "/console/transfers/<int:transfer_id>/letter.pdf", needs="console",
              read_only=False)
def letter(visit: Visit, transfer_id: int) -> Any:
    return _letter_response(visit, services.get_transfer(visit.principal, transfer_id))


@account_page(blp, "/me/transfers/<int:transfer_id>/letter.pdf", read_only=False)
def my_letter(visit: Visit, transfer_id: int) -> Any:
    return _letter_response(visit, _own(visit, transfer_id))
