"""API contract for organizations (explicit schemas: the contract does not follow columns)."""

from __future__ import annotations

from marshmallow import fields, validate

from node.orgs.models import OfficerPosition, OrgKind
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema


class WarningSchema(Schema):
    code = fields.String()
    message = fields.String()


class OrgSchema(Schema):
    id = fields.Integer(dump_only=True)
    parent_id = fields.Integer(allow_none=True)
    code = fields.String(metadata={"description": "Unified code; a subtree is a code prefix"})
    kind = fields.Enum(OrgKind)
    name = fields.String()
    short_name = fields.String(allow_none=True)
    external_code = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    public_description = fields.String(
        allow_none=True, metadata={"description": "Shown on the tenant's public site"})
    is_village_or_community = fields.Boolean()
    founded_on = fields.Date(allow_none=True)
    dissolved_on = fields.Date(allow_none=True)
    depth = fields.Integer()


class OrgDetailSchema(OrgSchema):
    warnings = fields.List(fields.Nested(WarningSchema))


class OrgPageSchema(Schema):
    items = fields.List(fields.Nested(OrgSchema))
    next_cursor = fields.String(allow_none=True)


_name = fields.String(validate=validate.Length(min=1, max=120))


class OrgCreateSchema(Schema):
    parent_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.Enum(OrgKind, required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    short_name = fields.String(allow_none=True, validate=validate.Length(max=40))
    external_code = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    public_description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    is_village_or_community = fields.Boolean(load_default=False)
    founded_on = fields.Date(allow_none=True)


class OrgUpdateSchema(Schema):
    kind = fields.Enum(OrgKind)
    name = fields.String(validate=validate.Length(min=1, max=120))
    short_name = fields.String(allow_none=True, validate=validate.Length(max=40))
    external_code = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    public_description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    is_village_or_community = fields.Boolean()
    founded_on = fields.Date(allow_none=True)


class OrgMoveSchema(Schema):
    new_parent_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    reason = fields.String(allow_none=True, validate=validate.Length(max=255))


class OrgDissolveSchema(Schema):
    dissolved_on = fields.Date(required=True)


class OrgQueryArgsSchema(CursorPageArgsSchema):
    parent_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.Enum(OrgKind)
    q = fields.String(validate=validate.Length(min=1, max=60))
    within = fields.String(validate=validate.Regexp(r"^\d{1,64}$"),
                           metadata={"description": "Only orgs in the subtree of this code"})
    include_dissolved = fields.Boolean(load_default=False)


class OfficerSchema(Schema):
    id = fields.Integer(dump_only=True)
    org_id = fields.Integer(dump_only=True)
    member_id = fields.Integer(allow_none=True)
    name = fields.String()
    position = fields.Enum(OfficerPosition)
    term_start = fields.Date()
    term_end = fields.Date(allow_none=True)


class OfficerCreateSchema(Schema):
    member_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    name = fields.String(validate=validate.Length(min=1, max=60))
    position = fields.Enum(OfficerPosition, required=True)
    term_start = fields.Date(required=True)
    term_end = fields.Date(allow_none=True)


class OfficerEndSchema(Schema):
    term_end = fields.Date(required=True)
