from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.web.schema import Schema


class AccountSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    is_service = fields.Boolean()
    is_active = fields.Boolean()
    last_login_at = fields.DateTime(allow_none=True)


class AccountPageSchema(Schema):
    items = fields.List(fields.Nested(AccountSchema))
    next_cursor = fields.String(allow_none=True)


class AccountCreateSchema(Schema):
    username = fields.String(required=True,
                             validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{3,60}$",
                                                      error="3–60 letters, digits or _.@-"))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=10, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=120))
    member_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))


class AccountUpdateSchema(Schema):
    """Enable or disable, and link to a member record (`member_id`; null unlinks)."""

    is_active = fields.Boolean()
    member_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))

    @validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give is_active, member_id or both.", "_schema")


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(max=200))
    new_password = fields.String(required=True, validate=validate.Length(min=10, max=200))


class MeSchema(Schema):
    account = fields.Nested(AccountSchema)
    tenant = fields.String()
    grants = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
