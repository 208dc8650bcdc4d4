"""HTTP for meetings, attendance, check-in and compliance: translate requests to services."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask import Request, Response, send_file
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from node.auth.principal import Principal, current_principal
from node.db import db
from node.extensions import transactional
from node.meetings import services
from node.meetings.files import attachments_root, max_bytes
from node.meetings.models import Meeting
from node.meetings.schemas import (
    AttendanceMarkSchema,
    AttendanceSchema,
    AttendanceSheetSchema,
    CancelSchema,
    CheckinSchema,
    ComplianceQueryArgsSchema,
    ComplianceSchema,
    MeetingAttachmentSchema,
    MeetingAttachmentUploadSchema,
    MeetingCreateSchema,
    MeetingPageSchema,
    MeetingQueryArgsSchema,
    MeetingSchema,
    MeetingUpdateSchema,
    MyMeetingsSchema,
    ReturnSchema,
)
from node.members.services import own_member
from node.tenants.services import current_tenant
from shared.db import transaction
from shared.errors import InvalidInput
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page
from shared.web.problems import PROBLEM_MIMETYPE, ProblemSchema


class _MultipartParser(FlaskParser):
    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Request, schema: ma.Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


blp = Blueprint("meetings", __name__, url_prefix="/api/meetings",
                description="Organizational life: meetings (三会一课, theme days, life meetings, "
                            "talks), invitations, check-in, attendance, minutes, review by the "
                            "committee above, and compliance with the cadence.")
blp.ARGUMENTS_PARSER = _MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             "multipart": "multipart/form-data"}
me_blp = Blueprint("me_meetings", __name__, url_prefix="/api/me/meetings",
                   description="The signed-in member's meetings and attendance.")


def tally_payload(tally: services.Tally) -> dict[str, Any]:
    return {"invited": tally.invited, "present": tally.present, "excused": tally.excused,
            "absent": tally.absent, "rate": tally.rate}


def detail_payload(principal: Principal, meeting: Meeting) -> dict[str, Any]:
    values = {name: getattr(meeting, name) for name in MeetingSchema._declared_fields
              if name not in ("checkin_code", "my_attendance", "tally", "attachments")}
    own = services.own_attendance(principal, meeting)
    return {**values,
            "checkin_code": meeting.checkin_code if services.may_manage(principal, meeting)
            else None,
            "my_attendance": own.status if own is not None else None,
            "tally": tally_payload(services.tally(meeting)),
            "attachments": services.attachments_of(meeting)}


def _detail(meeting: Meeting) -> dict[str, Any]:
    return detail_payload(current_principal(), meeting)


@blp.route("")
class Meetings(MethodView):
    @blp.arguments(MeetingQueryArgsSchema, location="query")
    @blp.response(200, MeetingPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Meetings you may read (your subtrees', and those you are invited to), by start"""
        after = decode_cursor(args["cursor"], (str, int))
        items = services.list_meetings(
            current_principal(), org_id=args["org_id"], kind=args["kind"],
            status=args["status"], starts_from=args["starts_from"],
            starts_before=args["starts_before"],
            after=services.cursor_position(after) if after else None, limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.starts_at.isoformat(), last.id])

    @blp.arguments(MeetingCreateSchema)
    @blp.response(201, MeetingSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Schedule a meeting (or record one afterwards) and invite the right people"""
        return _detail(services.schedule_meeting(current_principal(), data))


@blp.route("/<int:meeting_id>")
class MeetingById(MethodView):
    @blp.response(200, MeetingSchema)
    def get(self, meeting_id: int) -> dict[str, Any]:
        """A meeting you may read"""
        return _detail(services.get_meeting(current_principal(), meeting_id))

    @blp.arguments(MeetingUpdateSchema)
    @blp.response(200, MeetingSchema)
    @transactional
    def patch(self, data: dict[str, Any], meeting_id: int) -> dict[str, Any]:
        """Edit a meeting: time (while scheduled), place, minutes, recording link"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        return _detail(services.update_meeting(principal, meeting, data))


@blp.route("/<int:meeting_id>/held")
class MeetingHeld(MethodView):
    @blp.response(200, MeetingSchema)
    @transactional
    def post(self, meeting_id: int) -> dict[str, Any]:
        """Record that the meeting took place (once it has started)"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        return _detail(services.hold_meeting(principal, meeting))


@blp.route("/<int:meeting_id>/cancel")
class MeetingCancel(MethodView):
    @blp.arguments(CancelSchema)
    @blp.response(200, MeetingSchema)
    @transactional
    def post(self, data: dict[str, Any], meeting_id: int) -> dict[str, Any]:
        """Cancel a scheduled meeting, with the reason"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        return _detail(services.cancel_meeting(principal, meeting, data["reason"]))


def _sheet_row(row: services.SheetRow) -> dict[str, Any]:
    a = row.attendance
    return {"member_id": a.member_id, "name": row.name, "member_number": row.member_number,
            "status": a.status, "reason": a.reason, "method": a.method,
            "checked_in_at": a.checked_in_at}


@blp.route("/<int:meeting_id>/attendance")
class MeetingAttendance(MethodView):
    @blp.response(200, AttendanceSheetSchema)
    def get(self, meeting_id: int) -> dict[str, Any]:
        """The attendance sheet: every invitee and whether they came"""
        principal = current_principal()
        meeting = services.get_meeting(principal, meeting_id)
        rows = services.attendance_sheet(principal, meeting)
        return {"tally": tally_payload(services.tally(meeting)),
                "items": [_sheet_row(row) for row in rows]}


@blp.route("/<int:meeting_id>/attendance/<int:member_id>")
class MeetingAttendanceMark(MethodView):
    @blp.arguments(AttendanceMarkSchema)
    @blp.response(200, AttendanceSchema)
    @transactional
    def put(self, data: dict[str, Any], meeting_id: int, member_id: int) -> dict[str, Any]:
        """Mark an invitee present, absent or excused (a member of the org not yet invited is
        added)"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        services.mark_attendance(principal, meeting, member_id, data["status"],
                                 data["reason"])
        row = next(r for r in services.attendance_sheet(principal, meeting)
                   if r.attendance.member_id == member_id)
        return _sheet_row(row)


@blp.route("/<int:meeting_id>/checkin")
class MeetingCheckin(MethodView):
    @blp.arguments(CheckinSchema)
    @blp.response(200, AttendanceSchema)
    def post(self, data: dict[str, Any], meeting_id: int) -> dict[str, Any]:
        """Check in with the code shown at the meeting (invitees, during the meeting; again
        changes nothing). Wrong codes are limited per member and per meeting: beyond the limit
        429 with Retry-After; a wrong code answers 422 with `attempts_left`"""
        principal = current_principal()
        try:
            with transaction(db):
                row = services.check_in(principal, meeting_id, data["code"])
                member = own_member(principal)
                return _sheet_row(services.SheetRow(row, member.name, member.member_number))
        except services.WrongCheckinCode as exc:
            with transaction(db):  # the refusal rolled back; the failure must hold
                left = services.note_checkin_failure(principal, exc.meeting_ids)
            raise InvalidInput(exc.detail, errors=exc.errors, attempts_left=left) from None


@blp.route("/<int:meeting_id>/submit")
class MeetingSubmit(MethodView):
    @blp.response(200, MeetingSchema)
    @transactional
    def post(self, meeting_id: int) -> dict[str, Any]:
        """Submit a held meeting's record to the committee above (where the tenant reviews)"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        return _detail(services.submit_for_review(principal, meeting, current_tenant()))


@blp.route("/<int:meeting_id>/approve")
class MeetingApprove(MethodView):
    @blp.response(200, MeetingSchema)
    @transactional
    def post(self, meeting_id: int) -> dict[str, Any]:
        """Approve a submitted meeting (administrators of the committee above)"""
        principal = current_principal()
        meeting = services.get_meeting(principal, meeting_id)
        return _detail(services.decide_review(principal, meeting, current_tenant(),
                                              approve=True))


@blp.route("/<int:meeting_id>/return")
class MeetingReturn(MethodView):
    @blp.arguments(ReturnSchema)
    @blp.response(200, MeetingSchema)
    @transactional
    def post(self, data: dict[str, Any], meeting_id: int) -> dict[str, Any]:
        """Return a submitted meeting with what to correct (the committee above)"""
        principal = current_principal()
        meeting = services.get_meeting(principal, meeting_id)
        return _detail(services.decide_review(principal, meeting, current_tenant(),
                                              approve=False, reason=data["reason"]))


@blp.route("/<int:meeting_id>/attachments")
class MeetingAttachments(MethodView):
    @blp.arguments(MeetingAttachmentUploadSchema, location="multipart")
    @blp.response(201, MeetingAttachmentSchema)
    @blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                      description="The file is larger than the attachment limit")
    @transactional
    def post(self, form: dict[str, Any], meeting_id: int) -> Any:
        """Attach a file (multipart field `file`): minutes scan, sign-in sheet, photos"""
        principal = current_principal()
        meeting = services.get_for_update(principal, meeting_id)
        upload = form["file"]
        return services.add_attachment(principal, meeting, upload.stream,
                                       filename=upload.filename, content_type=upload.mimetype,
                                       root=attachments_root(), max_bytes=max_bytes())


@blp.route("/<int:meeting_id>/attachments/<int:attachment_id>")
class MeetingAttachmentById(MethodView):
    @blp.alt_response(200, description="The file, as an attachment download")
    def get(self, meeting_id: int, attachment_id: int) -> Response:
        """Download a file of a meeting you may read"""
        found = services.get_attachment(current_principal(), meeting_id, attachment_id,
                                        attachments_root())
        response = send_file(found.path, mimetype=found.content_type, as_attachment=True,
                             download_name=found.filename, max_age=0, conditional=False)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response


def unit_payload(unit: services.UnitCompliance) -> dict[str, Any]:
    return {"org_id": unit.org_id, "code": unit.code, "name": unit.name, "kind": unit.kind,
            "due": unit.due, "met": unit.met, "held": unit.held, "rate": unit.rate,
            "kinds": {kind.value: dataclasses.asdict(count)
                      for kind, count in unit.kinds.items()},
            "attendance": tally_payload(unit.attendance), "started_on": unit.started_on,
            "last_held_on": unit.last_held_on, "inactive": unit.inactive,
            "afterwards": unit.afterwards, "branches": unit.branches,
            "inactive_branches": unit.inactive_branches}


def compliance_payload(result: services.Compliance) -> dict[str, Any]:
    return {"period": result.period.label, "start": result.period.start,
            "end": result.period.end, "as_of": result.as_of,
            "org_id": result.org.id if result.org is not None else None,
            "cadence": {kind.value: months for kind, months in result.cadence.items()},
            "total": unit_payload(result.total),
            "children": [unit_payload(u) for u in result.children],
            "branches": [unit_payload(u) for u in result.branches]}


@blp.route("/compliance")
class MeetingCompliance(MethodView):
    @blp.arguments(ComplianceQueryArgsSchema, location="query")
    @blp.response(200, ComplianceSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Held against due per branch for a period, subtree roll-ups, attendance rates and
        inactive branches"""
        period = services.period_or_current(args["period"])
        result = services.compliance(current_principal(), current_tenant(), period=period,
                                     org_id=args["org_id"])
        return compliance_payload(result)


@me_blp.route("")
class MyMeetings(MethodView):
    @me_blp.response(200, MyMeetingsSchema)
    def get(self) -> dict[str, Any]:
        """Your meetings (the latest 50) and your attendance over the held ones"""
        member = own_member(current_principal())
        found = services.member_meetings(member.id)
        items = [{**{name: getattr(meeting, name) for name in (
            "id", "org_id", "org_code", "kind", "title", "starts_at", "ends_at", "place",
            "online_url", "status", "review_status", "recorded_afterwards", "recording_url")},
            "attendance": attendance.status, "reason": attendance.reason}
            for meeting, attendance in found.items]
        return {"tally": tally_payload(found.tally), "items": items}
