"""API contract of meetings, attendance, check-in and compliance.

Times are ISO 8601; a time without an offset is China Standard Time (UTC+8), where the
tenants are.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage

from node.meetings.models import (
    LOCAL_TZ,
    AttendanceStatus,
    CheckinMethod,
    MeetingKind,
    MeetingStatus,
    ReviewStatus,
)
from node.orgs.models import OrgKind
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_id = dict(validate=validate.Range(min=1, max=2**31 - 1))
_time = dict(default_timezone=LOCAL_TZ, metadata={
    "description": "ISO 8601; without an offset, China Standard Time (UTC+8)"})
_url = dict(schemes={"http", "https"}, validate=validate.Length(max=500))


class MeetingQueryArgsSchema(CursorPageArgsSchema):
    org_id = fields.Integer(load_default=None, **_id, metadata={
        "description": "Only meetings of this organization's subtree"})
    kind = fields.Enum(MeetingKind, load_default=None)
    status = fields.Enum(MeetingStatus, load_default=None)
    starts_from = fields.AwareDateTime(load_default=None, **_time)
    starts_before = fields.AwareDateTime(load_default=None, **_time)


class MeetingCreateSchema(Schema):
    org_id = fields.Integer(required=True, **_id)
    kind = fields.Enum(MeetingKind, required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    starts_at = fields.AwareDateTime(required=True, **_time)
    ends_at = fields.AwareDateTime(required=True, **_time)
    place = fields.String(load_default=None, validate=validate.Length(max=200))
    online_url = fields.URL(load_default=None, allow_none=True, **_url)
    minutes = fields.String(load_default="", validate=validate.Length(max=100_000))
    recording_url = fields.URL(load_default=None, allow_none=True, **_url)
    member_ids = fields.List(fields.Integer(**_id), load_default=list,
                             validate=validate.Length(max=2000), metadata={
        "description": "Group meetings and talks: who is invited (a group meeting defaults "
                       "to the group's previous invitees); other kinds: invitees besides the "
                       "party members or officers derived from the organization"})


class MeetingUpdateSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    starts_at = fields.AwareDateTime(**_time)
    ends_at = fields.AwareDateTime(**_time)
    place = fields.String(allow_none=True, validate=validate.Length(max=200))
    online_url = fields.URL(allow_none=True, **_url)
    minutes = fields.String(validate=validate.Length(max=100_000))
    recording_url = fields.URL(allow_none=True, **_url)


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReturnSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CheckinSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$"), metadata={
        "description": "The 6 digits shown at the meeting"})


class AttendanceMarkSchema(Schema):
    status = fields.Enum(AttendanceStatus, required=True)
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=300), metadata={
        "description": "Required for excused (leave); optional for absent"})


class AttendanceSchema(Schema):
    member_id = fields.Integer()
    name = fields.String()
    member_number = fields.String()
    status = fields.Enum(AttendanceStatus)
    reason = fields.String(allow_none=True)
    method = fields.Enum(CheckinMethod, allow_none=True)
    checked_in_at = fields.DateTime(allow_none=True)


class TallySchema(Schema):
    invited = fields.Integer()
    present = fields.Integer()
    excused = fields.Integer()
    absent = fields.Integer(metadata={"description": "Not present and not excused"})
    rate = fields.Float(allow_none=True, metadata={"description": "present / invited"})


class AttendanceSheetSchema(Schema):
    tally = fields.Nested(TallySchema)
    items = fields.List(fields.Nested(AttendanceSchema))


class MeetingAttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


class MeetingSummarySchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_code = fields.String()
    kind = fields.Enum(MeetingKind)
    title = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    place = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    status = fields.Enum(MeetingStatus)
    review_status = fields.Enum(ReviewStatus)
    recorded_afterwards = fields.Boolean(metadata={
        "description": "Entered after it ended (补录)"})


class MeetingSchema(MeetingSummarySchema):
    cancel_reason = fields.String(allow_none=True)
    minutes = fields.String()
    recording_url = fields.String(allow_none=True)
    review_reason = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    held_at = fields.DateTime(allow_none=True)
    checkin_code = fields.String(allow_none=True, metadata={
        "description": "For the organization's administrators only (null for others)"})
    my_attendance = fields.Enum(AttendanceStatus, allow_none=True, metadata={
        "description": "Yours, if you are invited"})
    tally = fields.Nested(TallySchema)
    attachments = fields.List(fields.Nested(MeetingAttachmentSchema))


class MeetingPageSchema(Schema):
    items = fields.List(fields.Nested(MeetingSummarySchema))
    next_cursor = fields.String(allow_none=True)


class MyMeetingSchema(MeetingSummarySchema):
    attendance = fields.Enum(AttendanceStatus)
    reason = fields.String(allow_none=True)
    recording_url = fields.String(allow_none=True)


class MyMeetingsSchema(Schema):
    tally = fields.Nested(TallySchema, metadata={"description": "Over the held meetings"})
    items = fields.List(fields.Nested(MyMeetingSchema))


def _is_upload(value: Any) -> None:
    if not isinstance(value, FileStorage):
        raise ma.ValidationError("Upload the file as a multipart file part.")


class MeetingAttachmentUploadSchema(Schema):
    file = Upload(required=True, validate=_is_upload, metadata={
        "description": "PDF, office documents, images or audio"})


# --- compliance -------------------------------------------------------------------------------


class ComplianceQueryArgsSchema(Schema):
    org_id = fields.Integer(load_default=None, **_id, metadata={
        "description": "The subtree (default: every subtree you may read)"})
    period = fields.String(load_default=None, validate=validate.Length(max=10), metadata={
        "description": "2026 (year), 2026-Q2 (quarter) or 2026-05 (month); default: the "
                       "current quarter"})


class KindCountSchema(Schema):
    due = fields.Integer(metadata={"description": "Windows of the cadence that ended or are met"})
    met = fields.Integer(metadata={"description": "Windows with a meeting held"})
    held = fields.Integer(metadata={"description": "Meetings held in the period"})
    open = fields.Integer(metadata={"description": "Windows still running, not met yet"})
    shared = fields.Integer(metadata={
        "description": "Party lectures and theme days held in the period by an organization "
                       "above for its subtree, with the branch's members invited: they meet "
                       "the branch's windows too"})


class UnitComplianceSchema(Schema):
    org_id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.Enum(OrgKind)
    due = fields.Integer()
    met = fields.Integer()
    held = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "met / due"})
    kinds = fields.Dict(keys=fields.String(), values=fields.Nested(KindCountSchema))
    attendance = fields.Nested(TallySchema)
    started_on = fields.Date(allow_none=True)
    last_held_on = fields.Date(allow_none=True)
    inactive = fields.Boolean()
    afterwards = fields.Integer(metadata={"description": "Held meetings entered afterwards"})
    branches = fields.Integer()
    inactive_branches = fields.Integer()


class ComplianceSchema(Schema):
    period = fields.String()
    start = fields.Date()
    end = fields.Date(metadata={"description": "The first day after the period"})
    as_of = fields.Date()
    org_id = fields.Integer(allow_none=True)
    cadence = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Months between required meetings of each kind (0: not required)"})
    total = fields.Nested(UnitComplianceSchema)
    children = fields.List(fields.Nested(UnitComplianceSchema))
    branches = fields.List(fields.Nested(UnitComplianceSchema))
