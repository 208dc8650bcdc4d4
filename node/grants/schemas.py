from __future__ import annotations

from marshmallow import fields, validate

from node.grants.models import Role
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema


class GrantSchema(Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    role = fields.Enum(Role)
    org_id = fields.Integer()
    org_code = fields.String()
    granted_by_account_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class GrantCreateSchema(Schema):
    account_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    role = fields.Enum(Role, required=True)
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class GrantPageSchema(Schema):
    items = fields.List(fields.Nested(GrantSchema))
    next_cursor = fields.String(allow_none=True)


class GrantQueryArgsSchema(CursorPageArgsSchema):
    account_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
