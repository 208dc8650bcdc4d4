from __future__ import annotations

from marshmallow import fields, validate

from shared.web.schema import Schema


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_account_id = fields.Integer(allow_none=True)
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.Integer(allow_none=True)
    scope_code = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    remote_addr = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


class AuditQueryArgsSchema(Schema):
    entity_type = fields.String(validate=validate.Length(max=40))
    entity_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    action = fields.String(validate=validate.Length(max=60))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
