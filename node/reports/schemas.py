"""API contract of the monthly reports: months are `YYYY-MM`, money strings of yuan."""

from __future__ import annotations

from marshmallow import fields

from node.dues.schemas import Month, _yuan
from shared.web.schema import Schema


class AbsenceSchema(Schema):
    title = fields.String()
    kind = fields.String(metadata={"description": "The meeting's kind (member_assembly, ...)"})
    starts_at = fields.String(metadata={"description": "When it began (ISO 8601, UTC)"})
    status = fields.String(metadata={
        "description": "excused (请假, with a reason), absent, or invited (never marked: "
                       "counts as absent)"})
    reason = fields.String(allow_none=True)


class ReportSchema(Schema):
    month = Month()
    member_id = fields.Integer()
    org_code = fields.String(metadata={"description": "The member's branch that month"})
    org_name = fields.String()
    meetings_invited = fields.Integer(metadata={
        "description": "Held meetings of the month the member was invited to"})
    meetings_attended = fields.Integer()
    meetings_excused = fields.Integer(metadata={"description": "On leave (请假)"})
    meetings_missed = fields.Integer(metadata={"description": "Not attended and not on leave"})
    attendance_rate = fields.Float(allow_none=True, metadata={
        "description": "attended / invited (null: no meeting)"})
    absences = fields.List(fields.Nested(AbsenceSchema))
    dues_due = _yuan(allow_none=True, metadata={
        "description": "The month's dues (null: no line for the month)"})
    dues_paid = _yuan(allow_none=True)
    dues_status = fields.String(allow_none=True, metadata={
        "description": "unpaid, paid or exempt when the report was generated"})
    arrears_months = fields.Integer(metadata={
        "description": "Consecutive unpaid months up to and including this one"})
    arrears_total = _yuan()
    directives_received = fields.Integer(metadata={
        "description": "Directives and study items for everyone received in the month"})
    directives_read = fields.Integer(metadata={"description": "Opened by the member in the month"})
    directives_completed = fields.Integer()
    generated_at = fields.DateTime()


class ReportSummarySchema(Schema):
    month = Month()
    meetings_invited = fields.Integer()
    meetings_attended = fields.Integer()
    attendance_rate = fields.Float(allow_none=True)
    dues_status = fields.String(allow_none=True)
    arrears_months = fields.Integer()
    generated_at = fields.DateTime()


class ReportListSchema(Schema):
    items = fields.List(fields.Nested(ReportSummarySchema), metadata={
        "description": "Newest month first"})
