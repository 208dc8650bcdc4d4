"""The API's view of hub accounts (explicit schemas: the contract does not follow columns)."""

from __future__ import annotations

from marshmallow import fields, validate

from hub.accounts.models import HubRole
from shared.web.schema import Schema

ROLES = [role.value for role in HubRole]


class HubAccountSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String(metadata={"enum": ROLES})
    region_prefix = fields.String(allow_none=True)
    is_service = fields.Boolean()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)


class HubAccountPageSchema(Schema):
    items = fields.List(fields.Nested(HubAccountSchema))
    next_cursor = fields.String(allow_none=True)


class HubAccountCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9._-]{1,59}$", error="2–60 lowercase letters, digits or ._-"))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=12, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    region_prefix = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Regexp(r"^[0-9]{2,12}$",
                                                           error="2–12 digits"))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=120))


class HubMeSchema(Schema):
    account = fields.Nested(HubAccountSchema)
    scopes = fields.List(fields.String())
