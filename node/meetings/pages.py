"""Meeting pages: the secretary's calendar, meeting form and attendance sheet, the check-in
code with its QR, the committee's compliance dashboard; the member's meetings and check-in.

Views translate HTTP only: forms are read with the API's schemas and every rule (reach, the
check-in window, review, what is locked) is the services' (`node.meetings.services`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.grants.models import Role
from node.meetings import services
from node.meetings.files import attachments_root
from node.meetings.models import LOCAL_TZ, AttendanceStatus, Meeting, MeetingKind, MeetingStatus
from node.meetings.schemas import MeetingCreateSchema, MeetingUpdateSchema
from node.members.services import MemberFilter, list_members, own_member
from node.orgs.models import OrgKind
from node.orgs.services import get_org, list_orgs
from node.web.console import (
    FormErrors,
    FormReader,
    Visit,
    account_page,
    field_errors,
    load_form,
    readable,
)
from node.web.tenancy import tenant_url
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyAttempts

blp = Blueprint("meeting_pages", __name__)

KINDS = {
    MeetingKind.member_assembly: _l("Member assembly"),
    MeetingKind.committee_meeting: _l("Branch committee meeting"),
    MeetingKind.group_meeting: _l("Party group meeting"),
    MeetingKind.party_lecture: _l("Party lecture"),
    MeetingKind.theme_day: _l("Theme party day"),
    MeetingKind.life_meeting: _l("Organizational life meeting"),
    MeetingKind.talks: _l("Heart-to-heart talks"),
}
STATUSES = {MeetingStatus.scheduled: _l("Scheduled"), MeetingStatus.held: _l("Took place"),
            MeetingStatus.cancelled: _l("Cancelled")}
ATTENDANCE = {AttendanceStatus.invited: _l("Not marked"), AttendanceStatus.present: _l("Present"),
              AttendanceStatus.absent: _l("Absent"), AttendanceStatus.excused: _l("On leave")}
REVIEWS = {"none": _l("Not reviewed"), "submitted": _l("Awaiting review"),
           "approved": _l("Approved"), "returned": _l("Returned for correction")}
FORM_FIELDS = ("org_id", "kind", "title", "starts_at", "ends_at", "place", "online_url")
EDIT_FIELDS = ("title", "starts_at", "ends_at", "place", "online_url", "minutes",
               "recording_url")
WEEKDAYS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
#: The services' refusals, readable.
MESSAGES = {
    "Group meetings are held by party groups.": _l("Group meetings are held by party groups."),
    "A party group holds group meetings only.": _l("A party group holds group meetings only."),
    "Ends before it starts.": _l("The meeting must end after it starts."),
    "Longer than 24 hours.": _l("A meeting lasts at most 24 hours."),
    "Out of range.": _l("Meetings are recorded up to a year back and scheduled up to two "
                        "years ahead."),
    "A place or an online link is needed.": _l("Give a place or an online link."),
    "Not members of the organization.": _l("Choose members of the organization."),
    "The organization has no current officers recorded.":
        _l("The organization has no current officers recorded; record them first."),
    "Choose who is invited.": _l("Choose who is invited."),
    "Wrong code.": _l("This is not the code of an open meeting of yours. Check the 6 digits "
                      "shown at the meeting."),
    "Check-in is open from 30 minutes before the start until the end.":
        _l("Check-in is open from 30 minutes before the start until the end of the meeting."),
    "You are not invited to this meeting.": _l("You are not invited to this meeting."),
    "The meeting has not started yet.": _l("The meeting has not started yet."),
    "Only a scheduled meeting can be marked as held.":
        _l("Only a scheduled meeting can be marked as held."),
    "Only a scheduled meeting can be cancelled.": _l("Only a scheduled meeting can be cancelled."),
    "The meeting was cancelled.": _l("The meeting was cancelled."),
    "The meeting is under review or approved; its record is locked.":
        _l("The meeting is under review or approved; its record is locked."),
    "A held meeting keeps its time.": _l("A held meeting keeps its time."),
    "Nobody can be present before the meeting starts.":
        _l("Nobody can be present before the meeting starts."),
    "Leave needs a reason.": _l("Leave needs a reason."),
    "This organization department does not review meetings.":
        _l("Meetings are not reviewed in this organization."),
    "Write the minutes first.": _l("Write the minutes first."),
    "The meeting is not awaiting review.": _l("The meeting is not awaiting review."),
    "Say what to correct.": _l("Say what to correct."),
    "This type of file is not accepted.":
        _l("Attach documents, images or audio (PDF, Word, Excel, images)."),
    "Meetings are reviewed by the administrators of the committee above.":
        _l("Meetings are reviewed by the administrators of the committee above."),
    "Use 2026, 2026-Q2 or 2026-05.": _l("Give a period such as 2026, 2026-Q2 or 2026-05."),
}


def _say(message: str) -> str:
    found = MESSAGES.get(message)
    return str(found) if found is not None else readable(message)


def _errors(exc: Any) -> dict[str, str]:
    errors = {key: _say(value) if value in MESSAGES else value
              for key, value in field_errors(exc).items()}
    if "_form" in errors:
        errors["_form"] = _say(exc.detail or exc.title)
    return errors


# --- template helpers -----------------------------------------------------------------------

@blp.app_template_global()
def meeting_kind(kind: MeetingKind | str) -> str:
    return str(KINDS[MeetingKind(kind)])


@blp.app_template_global()
def meeting_status(status: MeetingStatus | str) -> str:
    return str(STATUSES[MeetingStatus(status)])


@blp.app_template_global()
def attendance_label(status: AttendanceStatus | str) -> str:
    return str(ATTENDANCE[AttendanceStatus(status)])


@blp.app_template_global()
def review_label(status: Any) -> str:
    return str(REVIEWS.get(str(status), status))


@blp.app_template_global()
def local_time(moment: dt.datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A time in China Standard Time (how every tenant reads it)."""
    return moment.astimezone(LOCAL_TZ).strftime(pattern) if moment is not None else ""


@blp.app_template_global()
def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _input_time(moment: dt.datetime | None) -> str:
    return local_time(moment, "%Y-%m-%dT%H:%M") if moment else ""


# --- the secretary's calendar -----------------------------------------------------------------

def _month(value: str | None) -> dt.date:
    today = services.local_date(services.now_utc())
    try:
        day = dt.date.fromisoformat(f"{value}-01") if value and len(value) == 7 else None
    except ValueError:
        day = None
    return day if day is not None and 2000 <= day.year <= 2100 else today.replace(day=1)


def org_choices(visit: Visit, role: Role) -> list[Any]:
    """Organizations in the principal's reach for `role`, in tree order."""
    orgs: list[Any] = []
    for prefix in visit.principal.prefixes(role):
        orgs.extend(list_orgs(within_code=prefix, limit=2000))
    return orgs


def _admin_orgs(visit: Visit) -> list[Any]:
    return org_choices(visit, Role.org_admin)


@account_page(blp, "/console/meetings", needs="console")
def calendar_page(visit: Visit) -> Any:
    first = _month(request.args.get("month"))
    after = services.month_start(first.year, first.month + 1)
    meetings = services.list_meetings(
        visit.principal, starts_from=services.local_midnight(first),
        starts_before=services.local_midnight(after), limit=500)
    by_day: dict[dt.date, list[Meeting]] = {}
    for meeting in meetings:
        by_day.setdefault(services.local_date(meeting.starts_at), []).append(meeting)
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    previous = services.month_start(first.year, first.month - 1)
    return render_template(
        "meetings/calendar.html", first=first, weeks=weeks, by_day=by_day, meetings=meetings,
        names=services.org_names(meetings), weekdays=[str(d) for d in WEEKDAYS],
        previous=f"{previous:%Y-%m}", following=f"{after:%Y-%m}",
        today=services.local_date(services.now_utc()), can_schedule=visit.is_admin)


# --- scheduling -------------------------------------------------------------------------------

def _branch_members(visit: Visit, org_id: int | None) -> list[Any]:
    """Members who may be named as invitees (a group's: its branch's)."""
    if not org_id:
        return []
    try:
        org = get_org(org_id)
    except NotFound:
        return []
    if not visit.principal.can(Role.org_admin, org.code):
        return []
    branch_id = org.parent_id if org.kind == OrgKind.group and org.parent_id else org.id
    return list(list_members(visit.principal, MemberFilter(org_id=branch_id), after=None,
                             limit=500))


def _member_ids() -> list[int]:
    return [int(v) for v in request.form.getlist("member_ids") if v.isdigit() and len(v) < 10]


@account_page(blp, "/console/meetings/new", needs="admin", methods=("GET", "POST"))
def meeting_new(visit: Visit) -> Any:
    orgs = _admin_orgs(visit)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        if request.method == "POST":
            values: Any = request.form
        else:
            day = request.args.get("date") or ""
            values = {"org_id": request.args.get("org_id", ""),
                      "kind": request.args.get("kind", MeetingKind.theme_day.value),
                      "starts_at": f"{day}T19:00" if len(day) == 10 else "",
                      "ends_at": f"{day}T21:00" if len(day) == 10 else ""}
        raw_org = str(values.get("org_id") or "")
        members = _branch_members(visit, int(raw_org) if raw_org.isdigit()
                                  and len(raw_org) < 10 else None)
        return render_template("meetings/form.html", orgs=orgs, values=values,
                               errors=errors or {}, kinds=KINDS, members=members,
                               chosen=set(_member_ids()), meeting=None), status

    if request.method == "GET" or request.form.get("action") == "members":
        return page()
    try:
        data = load_form(MeetingCreateSchema(), FORM_FIELDS)
        data["member_ids"] = _member_ids()
        with visit.writing():
            meeting = services.schedule_meeting(visit.principal, data)
            meeting_id = meeting.id
    except FormErrors as exc:
        return page(exc.errors, 400)
    except InvalidInput as exc:
        return page(_errors(exc), 400)
    flash(_("The meeting has been scheduled and the invitations made."), "success")
    return redirect(visit.url("meeting_pages.meeting_detail", meeting_id=meeting_id), 303)


@account_page(blp, "/console/meetings/<int:meeting_id>/edit", needs="admin",
              methods=("GET", "POST"))
def meeting_edit(visit: Visit, meeting_id: int) -> Any:
    meeting = services.get_for_update(visit.principal, meeting_id)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        values = request.form if request.method == "POST" else {
            "title": meeting.title, "starts_at": _input_time(meeting.starts_at),
            "ends_at": _input_time(meeting.ends_at), "place": meeting.place or "",
            "online_url": meeting.online_url or "", "minutes": meeting.minutes,
            "recording_url": meeting.recording_url or ""}
        return render_template("meetings/edit.html", meeting=meeting, values=values,
                               errors=errors or {}), status

    if request.method == "GET":
        return page()
    fields = EDIT_FIELDS if meeting.status == MeetingStatus.scheduled else tuple(
        f for f in EDIT_FIELDS if f not in ("starts_at", "ends_at"))
    try:
        data = load_form(MeetingUpdateSchema(), fields)
        data.setdefault("minutes", "")
        with visit.writing():
            services.update_meeting(visit.principal,
                                    services.get_for_update(visit.principal, meeting_id), data)
    except FormErrors as exc:
        return page(exc.errors, 400)
    except (InvalidInput, Conflict) as exc:
        meeting = services.get_for_update(visit.principal, meeting_id)
        return page(_errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(_("The meeting has been saved."), "success")
    return redirect(visit.url("meeting_pages.meeting_detail", meeting_id=meeting_id), 303)


# --- one meeting: details, attendance sheet, actions -----------------------------------------

def _detail(visit: Visit, meeting: Meeting, errors: dict[str, str] | None = None,
            status: int = 200) -> Any:
    principal = visit.principal
    manage = services.may_manage(principal, meeting)
    sheet = (services.attendance_sheet(principal, meeting)
             if principal.can(Role.org_viewer, meeting.org_code) else [])
    now = services.now_utc()
    return render_template(
        "meetings/detail.html", meeting=meeting, org=get_org(meeting.org_id), sheet=sheet,
        tally=services.tally(meeting), attachments=services.attachments_of(meeting),
        manage=manage, review=services.review_required(visit.tenant),
        may_review=services.may_review(principal, meeting, visit.tenant),
        checkin_open=services.checkin_open(meeting, now), started=now >= meeting.starts_at,
        statuses=list(AttendanceStatus), errors=errors or {}), status


@account_page(blp, "/console/meetings/<int:meeting_id>", needs="console")
def meeting_detail(visit: Visit, meeting_id: int) -> Any:
    meeting = services.get_meeting(visit.principal, meeting_id)
    if not visit.principal.can(Role.org_viewer, meeting.org_code):
        return redirect(visit.url("meeting_pages.my_meeting", meeting_id=meeting_id), 303)
    return _detail(visit, meeting)


def _act(visit: Visit, meeting_id: int, action: Any, done: str) -> Any:
    """One of the detail page's buttons: apply in one transaction, or show why not."""
    try:
        with visit.writing():
            action(services.get_meeting(visit.principal, meeting_id))
    except (InvalidInput, Conflict) as exc:
        meeting = services.get_meeting(visit.principal, meeting_id)
        return _detail(visit, meeting, _errors(exc), 409 if isinstance(exc, Conflict) else 400)
    flash(done, "success")
    return redirect(visit.url("meeting_pages.meeting_detail", meeting_id=meeting_id), 303)


@account_page(blp, "/console/meetings/<int:meeting_id>/attendance", needs="admin",
              methods=("POST",))
def meeting_attendance(visit: Visit, meeting_id: int) -> Any:
    """The whole sheet at once: `status-<member id>` and `reason-<member id>` per invitee."""
    def apply(meeting: Meeting) -> None:
        for row in services.attendance_sheet(visit.principal, meeting):
            member_id = row.attendance.member_id
            raw = request.form.get(f"status-{member_id}")
            if raw is None:
                continue
            try:
                status = AttendanceStatus(raw)
            except ValueError:
                raise InvalidInput("Choose one.", errors={f"status-{member_id}": [
                    "Choose one."]}) from None
            reason = (request.form.get(f"reason-{member_id}") or "")[:300]
            try:
                services.mark_attendance(visit.principal, meeting, member_id, status, reason)
            except InvalidInput as exc:  # (the sheet shows it beside the person)
                raise InvalidInput(exc.detail, errors={
                    f"reason-{member_id}": [exc.detail or exc.title]}) from None

    return _act(visit, meeting_id, apply, _("The attendance has been saved."))


@account_page(blp, "/console/meetings/<int:meeting_id>/held", needs="admin",
              methods=("POST",))
def meeting_hold(visit: Visit, meeting_id: int) -> Any:
    return _act(visit, meeting_id, lambda m: services.hold_meeting(visit.principal, m),
                _("The meeting is recorded as held."))


@account_page(blp, "/console/meetings/<int:meeting_id>/cancel", needs="admin",
              methods=("POST",))
def meeting_cancel(visit: Visit, meeting_id: int) -> Any:
    reason = FormReader().text("reason", max_length=500) or ""
    return _act(visit, meeting_id,
                lambda m: services.cancel_meeting(visit.principal, m, reason),
                _("The meeting has been cancelled."))


@account_page(blp, "/console/meetings/<int:meeting_id>/review", needs="admin",
              methods=("POST",))
def meeting_review(visit: Visit, meeting_id: int) -> Any:
    decision = request.form.get("decision")
    reason = FormReader().text("reason", max_length=500)
    if decision == "submit":
        return _act(visit, meeting_id,
                    lambda m: services.submit_for_review(visit.principal, m, visit.tenant),
                    _("The record has been submitted to the committee above."))
    if decision not in ("approve", "return"):
        return _detail(visit, services.get_meeting(visit.principal, meeting_id),
                       {"_form": _("Choose one.")}, 400)
    return _act(visit, meeting_id,
                lambda m: services.decide_review(visit.principal, m, visit.tenant,
                                                 approve=decision == "approve", reason=reason),
                _("The review has been recorded."))


@account_page(blp, "/console/meetings/<int:meeting_id>/attachments", needs="admin",
              methods=("POST",))
def meeting_attach(visit: Visit, meeting_id: int) -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _detail(visit, services.get_meeting(visit.principal, meeting_id),
                       {"file": _("Choose a file.")}, 400)
    return _act(visit, meeting_id,
                lambda m: services.add_attachment(
                    visit.principal, m, upload.stream, filename=upload.filename,
                    content_type=upload.mimetype, root=attachments_root()),
                _("The file has been attached."))


@account_page(blp, "/meetings/<int:meeting_id>/files/<int:attachment_id>")
def meeting_file(visit: Visit, meeting_id: int, attachment_id: int) -> Any:
    found = services.get_attachment(visit.principal, meeting_id, attachment_id,
                                    attachments_root())
    response: Response = send_file(found.path, mimetype=found.content_type, as_attachment=True,
                                   download_name=found.filename, max_age=0, conditional=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@account_page(blp, "/console/meetings/<int:meeting_id>/checkin", needs="admin")
def meeting_code(visit: Visit, meeting_id: int) -> Any:
    """The code and its QR, to show in the room (a projector, or the secretary's phone)."""
    meeting = services.get_for_update(visit.principal, meeting_id)
    url = tenant_url("meeting_pages.checkin", meeting_id=meeting.id, code=meeting.checkin_code,
                     _external=True)
    qr = segno.make(url, error="m").svg_data_uri(scale=6, border=2)
    return render_template("meetings/code.html", meeting=meeting, url=url, qr=qr,
                           checkin_open=services.checkin_open(meeting, services.now_utc()))


# --- the committee's compliance dashboard -----------------------------------------------------

@account_page(blp, "/console/compliance", needs="console")
def compliance(visit: Visit) -> Any:
    orgs = [org for org in org_choices(visit, Role.org_viewer) if org.kind != OrgKind.group]
    raw_org = request.args.get("org_id", "")
    org_id = int(raw_org) if raw_org.isdigit() and len(raw_org) < 10 else (
        orgs[0].id if orgs else None)
    error = None
    try:
        period = services.period_or_current(request.args.get("period"))
    except InvalidInput as exc:
        error = _say("Use 2026, 2026-Q2 or 2026-05.") if exc.errors else str(exc)
        period = services.period_or_current(None)
    try:
        result = services.compliance(visit.principal, visit.tenant, period=period,
                                     org_id=org_id)
    except InvalidInput:
        error = _("Choose an organization in your scope.")
        result = services.compliance(visit.principal, visit.tenant, period=period)
    except Forbidden:
        raise NotFound() from None
    kinds = [kind for kind in MeetingKind if result.cadence[kind] > 0]
    chart = {"kinds": [meeting_kind(k) for k in kinds],
             "met": [result.total.kinds[k].met for k in kinds],
             "missed": [result.total.kinds[k].due - result.total.kinds[k].met for k in kinds],
             "labels": {"met": _("Met"), "missed": _("Missed")}}
    return render_template(
        "meetings/compliance.html", result=result, orgs=orgs, org_id=org_id, kinds=kinds,
        chart=chart, error=error, periods={
            "month": services.Period.containing(result.as_of, 1).label,
            "quarter": services.Period.containing(result.as_of, 3).label,
            "year": str(result.as_of.year)},
        previous=result.period.shifted(-1).label, following=result.period.shifted(1).label)


# --- the member's meetings and check-in -------------------------------------------------------

@account_page(blp, "/me/meetings")
def my_meetings(visit: Visit) -> Any:
    member = own_member(visit.principal)
    found = services.member_meetings(member.id)
    return render_template("meetings/mine.html", found=found,
                           names=services.org_names(m for m, _a in found.items))


@account_page(blp, "/me/meetings/<int:meeting_id>")
def my_meeting(visit: Visit, meeting_id: int) -> Any:
    meeting = services.get_meeting(visit.principal, meeting_id)
    own = services.own_attendance(visit.principal, meeting)
    return render_template("meetings/my_meeting.html", meeting=meeting, own=own,
                           org=get_org(meeting.org_id),
                           attachments=services.attachments_of(meeting),
                           checkin_open=services.checkin_open(meeting, services.now_utc()),
                           console=visit.principal.can(Role.org_viewer, meeting.org_code))


def _wrong_code(visit: Visit, exc: services.WrongCheckinCode) -> str:
    """Count the wrong code (its own transaction: the refused one rolled back) and say how
    many tries are left."""
    with visit.writing():
        left = services.note_checkin_failure(visit.principal, exc.meeting_ids)
    if left == 0:
        return _("This is not the code of an open meeting of yours. No tries are left for now: "
                 "wait %(minutes)s minutes, or ask the secretary to mark you present.",
                 minutes=services.CHECKIN_WINDOW // 60)
    return _("This is not the code of an open meeting of yours. Check the 6 digits shown at "
             "the meeting (%(n)s tries left).", n=left)


def _locked(page: Any, exc: TooManyAttempts) -> Any:
    """Too many wrong codes: a readable 429, with Retry-After."""
    retry = exc.headers.get("Retry-After", "")
    minutes = max(1, -(-int(retry) // 60)) if retry.isdigit() else services.CHECKIN_WINDOW // 60
    response, status = page({"code": _("Too many wrong codes. Try again in %(minutes)s "
                                       "minutes, or ask the secretary to mark you present.",
                                       minutes=minutes)}, 429)
    response = make_response(response, status)
    response.headers.update(exc.headers)
    return response


@account_page(blp, "/me/meetings/<int:meeting_id>/checkin", methods=("GET", "POST"))
def checkin(visit: Visit, meeting_id: int) -> Any:
    """Where the QR code leads (the code in the link): confirm, and you are checked in."""
    meeting = services.get_meeting(visit.principal, meeting_id)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        code = request.form.get("code") if request.method == "POST" else request.args.get(
            "code", "")
        return render_template("meetings/checkin.html", meeting=meeting, code=(code or "")[:6],
                               own=services.own_attendance(visit.principal, meeting),
                               errors=errors or {}), status

    if request.method == "GET":
        return page()
    code = FormReader().text("code", max_length=12) or ""
    try:
        with visit.writing():
            services.check_in(visit.principal, meeting_id, code)
    except services.WrongCheckinCode as exc:
        return page({"code": _wrong_code(visit, exc)}, 400)
    except TooManyAttempts as exc:
        return _locked(page, exc)
    except (InvalidInput, Conflict, Forbidden) as exc:
        return page({"code": _say(next(iter((exc.errors or {}).get("code", [])), None)
                                  or exc.detail or exc.title)},
                    403 if isinstance(exc, Forbidden) else 400)
    flash(_("You are checked in. Welcome!"), "success")
    return redirect(visit.url("meeting_pages.my_meeting", meeting_id=meeting_id), 303)


@account_page(blp, "/me/checkin", methods=("GET", "POST"))
def checkin_by_code(visit: Visit) -> Any:
    """Enter the code shown in the room: the meeting is found among your open invitations."""
    own_member(visit.principal)

    def page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
        return render_template("meetings/enter_code.html", errors=errors or {},
                               code=request.form.get("code", "")[:6]), status

    if request.method == "GET":
        return page()
    code = FormReader().text("code", max_length=12) or ""
    try:
        with visit.writing():
            meeting = services.find_open_invitation(visit.principal, code)
            services.check_in(visit.principal, meeting.id, code)
            meeting_id = meeting.id
    except services.WrongCheckinCode as exc:
        return page({"code": _wrong_code(visit, exc)}, 400)
    except TooManyAttempts as exc:
        return _locked(page, exc)
    except (InvalidInput, Conflict, Forbidden) as exc:
        return page({"code": _say(next(iter((exc.errors or {}).get("code", [])), None)
                                  or exc.detail or exc.title)}, 400)
    flash(_("You are checked in. Welcome!"), "success")
    return redirect(visit.url("meeting_pages.my_meeting", meeting_id=meeting_id), 303)
