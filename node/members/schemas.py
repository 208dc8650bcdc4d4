"""API contract for members, their history and the activity card."""

from __future__ import annotations

from marshmallow import fields, validate

from node.members.models import Education, Gender, Stage, Status
from shared.web.dump import CompiledList
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
_phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[\d\- ]{5,20}$"))
_email = fields.Email(allow_none=True, validate=validate.Length(max=120))


class MemberSummarySchema(Schema):
    """A list row: who, where, which stage; the record itself is one request away."""

    id = fields.Integer()
    member_number = fields.String()
    org_id = fields.Integer()
    org_code = fields.String()
    name = fields.String()
    gender = fields.Enum(Gender)
    birth_date = fields.Date()
    national_id = fields.String(
        attribute="national_id_masked",
        metadata={"description": "Masked; revealing it is a separate, audited call"})
    stage = fields.Enum(Stage)
    status = fields.Enum(Status)
    admitted_on = fields.Date(allow_none=True)


class MemberSchema(MemberSummarySchema):
    ethnicity = fields.String(allow_none=True)
    education = fields.Enum(Education, allow_none=True)
    applied_on = fields.Date(allow_none=True)
    full_on = fields.Date(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    work_unit = fields.String(allow_none=True)
    occupation = fields.String(allow_none=True)


class MemberPageSchema(Schema):
    items = CompiledList(MemberSummarySchema)
    next_cursor = fields.String(allow_none=True)


class SelfDeclaredSchema(Schema):
    """Fields the member maintains personally."""

    phone = _phone
    email = _email
    address = fields.String(allow_none=True, validate=validate.Length(max=255))
    work_unit = fields.String(allow_none=True, validate=validate.Length(max=120))
    occupation = fields.String(allow_none=True, validate=validate.Length(max=60))


class MemberUpdateSchema(SelfDeclaredSchema):
    name = fields.String(validate=validate.Length(min=1, max=60))
    ethnicity = fields.String(allow_none=True, validate=validate.Length(max=30))
    education = fields.Enum(Education, allow_none=True)
    applied_on = fields.Date(allow_none=True)
    admitted_on = fields.Date(allow_none=True)
    full_on = fields.Date(allow_none=True)


class MemberCreateSchema(MemberUpdateSchema):
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    national_id = fields.String(required=True, validate=validate.Length(min=15, max=18))
    stage = fields.Enum(Stage, required=True)
    stage_since = fields.Date(allow_none=True,
                              metadata={"description": "Date the current stage began"})


class MemberQueryArgsSchema(CursorPageArgsSchema):
    org_id = _id
    subtree = fields.Boolean(load_default=True)
    stage = fields.Enum(Stage)
    status = fields.Enum(Status)
    q = fields.String(validate=validate.Length(min=1, max=60),
                      metadata={"description": "Name, member number or national ID"})
    flagged = fields.Boolean(load_default=False, metadata={
        "description": "Only members the hub reports as also on the rolls of another tenant"})


class StageChangeCreateSchema(Schema):
    to_stage = fields.Enum(Stage, required=True)
    effective_on = fields.Date(required=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=255))


class StatusChangeCreateSchema(Schema):
    to_status = fields.Enum(Status, required=True)
    effective_on = fields.Date(required=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=255))


class MemberMoveSchema(Schema):
    to_org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    effective_on = fields.Date(required=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=255))


class StageChangeResultSchema(Schema):
    member = fields.Nested(MemberSchema)
    warnings = fields.List(fields.String())


class NationalIdSchema(Schema):
    national_id = fields.String()


class StageEntrySchema(Schema):
    from_stage = fields.Enum(Stage, allow_none=True)
    to_stage = fields.Enum(Stage)
    effective_on = fields.Date()
    note = fields.String(allow_none=True)


class StatusEntrySchema(Schema):
    from_status = fields.Enum(Status, allow_none=True)
    to_status = fields.Enum(Status)
    effective_on = fields.Date()
    reason = fields.String(allow_none=True)


class OrgEntrySchema(Schema):
    from_org_id = fields.Integer(allow_none=True)
    from_org_name = fields.String(allow_none=True)
    to_org_id = fields.Integer()
    to_org_name = fields.String()
    effective_on = fields.Date()
    reason = fields.String(allow_none=True)


class ActivitySchema(Schema):
    kind = fields.String()
    title = fields.String()
    occurred_on = fields.Date()
    credits = fields.Decimal(as_string=True)
    points = fields.Integer()


class ActivityCardSchema(Schema):
    member = fields.Nested(MemberSchema)
    org_name = fields.String()
    party_age_years = fields.Integer(allow_none=True)
    stages = fields.List(fields.Nested(StageEntrySchema))
    statuses = fields.List(fields.Nested(StatusEntrySchema))
    orgs = fields.List(fields.Nested(OrgEntrySchema))
    activities = fields.List(fields.Nested(ActivitySchema))
