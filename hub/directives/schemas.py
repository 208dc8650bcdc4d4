"""API contract of the hub's directives and their completion."""

from __future__ import annotations

from marshmallow import fields, validate

from hub.directives.models import (
    Audience,
    DirectiveKind,
    DirectiveStatus,
    Priority,
    TargetKind,
)
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_title = dict(validate=validate.Length(min=1, max=200))


class LinkSchema(Schema):
    title = fields.String(required=True, **_title)
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                        metadata={"description": "An http:// or https:// URL"})


class _Fields(Schema):
    kind = fields.Enum(DirectiveKind)
    title = fields.String(**_title)
    body = fields.String(validate=validate.Length(max=65_536), metadata={
        "description": "Plain text (Markdown allowed), never rendered as HTML"})
    links = fields.List(fields.Nested(LinkSchema), validate=validate.Length(max=20))
    priority = fields.Enum(Priority)
    pinned = fields.Boolean()
    deadline = fields.AwareDateTime(allow_none=True, metadata={
        "description": "With its offset, e.g. 2025-03-31T23:59:59+08:00; in the future"})
    audience = fields.Enum(Audience, metadata={
        "description": "all: every member of the targeted tenants; secretaries: their "
                       "organization administrators only"})
    target_kind = fields.Enum(TargetKind, metadata={
        "description": "all: every active node's tenants; region: the tenants whose region "
                       "code starts with target_region; tenants: target_tenants"})
    target_region = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9]{1,6}$"),
                                  metadata={"description": "1-6 digits, e.g. 50 (Chongqing)"})
    target_tenants = fields.List(
        fields.String(validate=validate.Length(min=3, max=169)),
        validate=validate.Length(max=1000),
        metadata={"description": "Tenants as <node id>/<tenant slug>"})


class DirectiveCreateSchema(_Fields):
    title = fields.String(required=True, **_title)


class DirectiveUpdateSchema(_Fields):
    pass


class DirectiveQueryArgsSchema(CursorPageArgsSchema):
    status = fields.Enum(DirectiveStatus, load_default=None)


class TotalsSchema(Schema):
    tenants = fields.Integer(metadata={"description": "Tenants it was sent to (that you see)"})
    reported = fields.Integer(metadata={"description": "Of them, those with a receipt"})
    targeted = fields.Integer()
    read = fields.Integer()
    completed = fields.Integer()
    read_rate = fields.Float(allow_none=True)
    completion_rate = fields.Float(allow_none=True)


class DirectiveSchema(Schema):
    id = fields.Integer()
    kind = fields.Enum(DirectiveKind)
    title = fields.String()
    body = fields.String()
    links = fields.List(fields.Nested(LinkSchema))
    priority = fields.Enum(Priority)
    pinned = fields.Boolean()
    deadline = fields.DateTime(allow_none=True)
    audience = fields.Enum(Audience)
    target_kind = fields.Enum(TargetKind)
    target_region = fields.String(allow_none=True)
    target_tenants = fields.List(fields.String())
    status = fields.Enum(DirectiveStatus)
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    published_by = fields.String(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    withdrawn_by = fields.String(allow_none=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    totals = fields.Nested(TotalsSchema)


class DirectivePageSchema(Schema):
    items = fields.List(fields.Nested(DirectiveSchema))
    next_cursor = fields.String(allow_none=True)


class CompletionQueryArgsSchema(Schema):
    by = fields.String(load_default="node", validate=validate.OneOf(("node", "region")))
    level = fields.Integer(load_default=2, validate=validate.OneOf((2, 4, 6)), metadata={
        "description": "For by=region: digits of the region code (2 province, 4 city, "
                       "6 county)"})


class CompletionRowSchema(TotalsSchema):
    key = fields.String(metadata={"description": "The node id or the region prefix"})


class CompletionSchema(Schema):
    by = fields.String()
    level = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(CompletionRowSchema))
    total = fields.Nested(TotalsSchema)
