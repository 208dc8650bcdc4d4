from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from node.grants.models import Role


class GrantSchema(ma.Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    role = fields.Enum(Role)
    org_id = fields.Integer()
    org_code = fields.String()
    granted_by_account_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class GrantCreateSchema(ma.Schema):
    account_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    role = fields.Enum(Role, required=True)
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class GrantQueryArgsSchema(ma.Schema):
    account_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
