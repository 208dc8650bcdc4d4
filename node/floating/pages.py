"""Floating-member pages: the list of certificates (ours abroad, theirs with us), issuing one,
a certificate with its actions (accept, decline, end, record participation) and the member's
own certificates. Every rule is the services' (`node.floating.services`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.floating import services
from node.floating.models import (
    EndReason,
    FloatingCertificate,
    FloatingSide,
    FloatingStatus,
    ParticipationStatus,
)
from node.grants.models import Role
from node.meetings.pages import local_time
from node.members.models import Status
from node.members.services import MemberFilter, list_members
from node.web.console import FormErrors, FormReader, Visit, account_page, field_errors, query_int
from shared.errors import Conflict, InvalidInput

blp = Blueprint("floating_pages", __name__)

STATUSES = {FloatingStatus.pending: _l("Awaiting the host"), FloatingStatus.active: _l("Active"),
            FloatingStatus.declined: _l("Declined"), FloatingStatus.ended: _l("Ended")}
END_REASONS = {EndReason.returned: _l("Returned"), EndReason.cancelled: _l("Cancelled"),
               EndReason.expired: _l("Expired"),
               EndReason.transferred: _l("Relationship transferred"),
               EndReason.undeliverable: _l("Could not be delivered")}
PARTICIPATION = {ParticipationStatus.present: _l("Present"),
                 ParticipationStatus.excused: _l("On leave"),
                 ParticipationStatus.absent: _l("Absent")}
MESSAGES = {
    "Unknown member.": _l("Choose a member in your scope."),
    "Not a party member.": _l("Only party members (probationary or full) can float."),
    "Not active.": _l("Only an active member can be given a floating certificate."),
    "Already floating.": _l("The member already holds an open floating certificate."),
    "Before start.": _l("The end must be after the start."),
    "Too long.": _l("Too long."),
    "In the past.": _l("The certificate would already be over."),
    "Unknown.": _l("Choose an organization department from the list."),
    "Unknown node.": _l("The host's node is not yet in this node's network directory."),
    "Unknown organization.": _l("There is no organization with this code there."),
    "Not a branch.": _l("The host must be a branch that holds members."),
    "Own organization.": _l("The host is the member's own organization."),
    "Unknown meeting.": _l("Choose a meeting of the host organization."),
    "Outside the validity.": _l("The meeting is outside the certificate's validity."),
    "The certificate is no longer open.": _l("The certificate is no longer open."),
    "Decline a pending certificate instead.": _l("Decline a pending certificate instead."),
    "Only a pending certificate can be accepted.":
        _l("Only a pending certificate can be accepted."),
    "Only a pending certificate can be declined.":
        _l("Only a pending certificate can be declined."),
    "The certificate has expired.": _l("The certificate has expired."),
    "Participation is recorded while the certificate is active.":
        _l("Participation is recorded while the certificate is active."),
    "Only a meeting that took place can be recorded.":
        _l("Only a meeting that took place can be recorded."),
    "This is done by the host organization.": _l("This is done by the host organization."),
}


def _errors(exc: Any) -> dict[str, str]:
    """The services' messages, readable: ours first, then the console's common ones."""
    errors = field_errors(exc)
    for key, messages in (exc.errors or {}).items():
        text = messages[0] if isinstance(messages, list | tuple) and messages else str(messages)
        if text in MESSAGES:
            errors[key] = str(MESSAGES[text])
    message = exc.detail or exc.title
    if "_form" in errors and message in MESSAGES:
        errors["_form"] = str(MESSAGES[message])
    return errors


@blp.app_template_global()
def floating_status(cert: FloatingCertificate) -> str:
    if cert.status == FloatingStatus.ended and cert.end_reason is not None:
        return f"{STATUSES[cert.status]} ({END_REASONS[cert.end_reason]})"
    return str(STATUSES[cert.status])


@blp.app_template_global()
def participation_label(status: ParticipationStatus | str) -> str:
    return str(PARTICIPATION[ParticipationStatus(status)])


@account_page(blp, "/console/floating", needs="console")
def floating_list(visit: Visit) -> Any:
    certs = services.list_certificates(visit.principal)
    return render_template(
        "floating/list.html", today=services.local_today(),
        away=[c for c in certs if c.side == FloatingSide.home],
        hosted=[c for c in certs if c.side == FloatingSide.host], can_issue=visit.is_admin)


def _candidates(visit: Visit) -> list[Any]:
    rows = list_members(visit.principal, MemberFilter(status=Status.active), after=None,
                        limit=1000)
    return [r for r in rows if r["stage"] in services.PARTY_STAGES
            and visit.principal.can(Role.org_admin, r["org_code"])]


@account_page(blp, "/console/floating/new", needs="admin", methods=("GET", "POST"))
def floating_new(visit: Visit) -> Any:
    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values: Any = request.form if request.method == "POST" else {
            "member_id": request.args.get("member_id", ""), "host_tenant": visit.tenant.slug,
            "starts_on": services.local_today().isoformat()}
        members = [(r["id"], f"{r['name']} ({r['member_number']})") for r in _candidates(visit)]
        tenants = [(t.slug, t.name if t.node is None else f"{t.name} · {t.node}")
                   for t in services.host_tenants()]
        return render_template("floating/new.html", values=values, errors=errors or {},
                               member_options=members, tenant_options=tenants), status

    if request.method == "GET":
        return page()
    form = FormReader()
    member_id = form.integer("member_id", required=True)
    starts_on = form.date("starts_on", required=True)
    until = form.date("until", required=True)
    reason = form.text("reason", max_length=300, required=True)
    host_tenant = form.text("host_tenant", max_length=40, required=True)
    host_org_code = form.text("host_org_code", max_length=64, required=True)
    try:
        form.check()
        with visit.writing():
            cert = services.issue_certificate(visit.principal, visit.tenant, {
                "member_id": member_id, "starts_on": starts_on, "until": until,
                "reason": reason, "host_tenant": host_tenant, "host_org_code": host_org_code})
            cert_id = cert.id
    except FormErrors as exc:
        return page(exc.errors, 400)
    except (InvalidInput, Conflict) as exc:
        return page(_errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(_("The floating certificate has been issued; the host organization accepts it."),
          "success")
    return redirect(visit.url("floating_pages.floating_detail", certificate_id=cert_id), 303)


def _detail(visit: Visit, cert: FloatingCertificate, errors: dict[str, str] | None = None,
            status: int = 200) -> Any:
    manage = services.may_manage(visit.principal, cert)
    meetings = (services.host_meetings(visit.principal, cert)
                if manage and cert.status == FloatingStatus.active else [])
    choices = [(m.id, f"{local_time(m.starts_at, '%Y-%m-%d')} {m.title}") for m in meetings]
    return render_template(
        "floating/detail.html", cert=cert, manage=manage,
        lines=services.participations(cert), meetings=meetings, meeting_choices=choices,
        status_choices=[(s.value, PARTICIPATION[s]) for s in ParticipationStatus],
        errors=errors or {}, today=services.local_today(),
        selected_meeting=request.form.get("meeting_id") or query_int("meeting_id")), status


@account_page(blp, "/console/floating/<int:certificate_id>", needs="console")
def floating_detail(visit: Visit, certificate_id: int) -> Any:
    return _detail(visit, services.get_certificate(visit.principal, certificate_id))


def _act(visit: Visit, certificate_id: int, action: Any, done: str) -> Any:
    try:
        with visit.writing():
            action(services.get_certificate(visit.principal, certificate_id, Role.org_admin))
    except (InvalidInput, Conflict) as exc:
        cert = services.get_certificate(visit.principal, certificate_id)
        return _detail(visit, cert, _errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(done, "success")
    return redirect(visit.url("floating_pages.floating_detail",
                              certificate_id=certificate_id), 303)


@account_page(blp, "/console/floating/<int:certificate_id>/accept", needs="admin",
              methods=("POST",))
def floating_accept(visit: Visit, certificate_id: int) -> Any:
    return _act(visit, certificate_id,
                lambda cert: services.accept_certificate(visit.principal, cert),
                _("Accepted: the member takes part here, without a vote."))


@account_page(blp, "/console/floating/<int:certificate_id>/decline", needs="admin",
              methods=("POST",))
def floating_decline(visit: Visit, certificate_id: int) -> Any:
    reason = request.form.get("reason", "")
    return _act(visit, certificate_id,
                lambda cert: services.decline_certificate(visit.principal, cert, reason),
                _("Declined; the reason goes to the member's organization."))


@account_page(blp, "/console/floating/<int:certificate_id>/end", needs="admin",
              methods=("POST",))
def floating_end(visit: Visit, certificate_id: int) -> Any:
    return _act(visit, certificate_id,
                lambda cert: services.end_certificate(visit.principal, cert),
                _("The floating certificate has ended."))


@account_page(blp, "/console/floating/<int:certificate_id>/participation", needs="admin",
              methods=("POST",))
def floating_participation(visit: Visit, certificate_id: int) -> Any:
    form = FormReader()
    meeting_id = form.integer("meeting_id", required=True)
    status = form.choice("status", ParticipationStatus)
    reason = form.text("reason", max_length=300)
    try:
        form.check()
    except FormErrors as exc:
        cert = services.get_certificate(visit.principal, certificate_id)
        return _detail(visit, cert, exc.errors, 400)
    return _act(visit, certificate_id,
                lambda cert: services.record_participation(
                    visit.principal, cert, meeting_id=meeting_id, status=status,
                    reason=reason),
                _("The participation has been recorded."))


@account_page(blp, "/me/floating")
def my_floating(visit: Visit) -> Any:
    return render_template("floating/mine.html",
                           certs=services.own_certificates(visit.principal))
