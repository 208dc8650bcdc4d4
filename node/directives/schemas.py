"""API contract of the directives a node received from the hub."""

from __future__ import annotations

from marshmallow import fields

from node.directives.models import Audience, DirectiveKind, Priority
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema


class DirectiveQueryArgsSchema(CursorPageArgsSchema):
    kind = fields.Enum(DirectiveKind, load_default=None)
    pinned = fields.Boolean(load_default=False, metadata={
        "description": "Only the pinned ones (what a home page shows)"})


class LinkSchema(Schema):
    title = fields.String()
    url = fields.String()


class DirectiveSchema(Schema):
    id = fields.Integer()
    kind = fields.Enum(DirectiveKind)
    title = fields.String()
    body = fields.String(metadata={"description": "Plain text (Markdown allowed), never HTML"})
    links = fields.List(fields.Nested(LinkSchema))
    priority = fields.Enum(Priority)
    pinned = fields.Boolean()
    deadline = fields.DateTime(allow_none=True)
    audience = fields.Enum(Audience)
    published_at = fields.DateTime()
    completable = fields.Boolean(metadata={
        "description": "A study item, or a directive with a deadline: each person marks it "
                       "completed"})
    read_at = fields.DateTime(allow_none=True, metadata={"description": "When you opened it"})
    completed_at = fields.DateTime(allow_none=True, metadata={
        "description": "When you marked it completed"})


class DirectivePageSchema(Schema):
    items = fields.List(fields.Nested(DirectiveSchema))
    next_cursor = fields.String(allow_none=True)


class CountsSchema(Schema):
    targeted = fields.Integer(metadata={
        "description": "People it is for in your subtrees: members on the rolls (audience "
                       "all) or active administrator accounts (audience secretaries)"})
    read = fields.Integer()
    completed = fields.Integer()
