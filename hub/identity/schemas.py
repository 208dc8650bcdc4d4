"""API contract of the identity index's duplicates (hashes and tenants, never people)."""

from __future__ import annotations

from marshmallow import fields

from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema


class PlaceSchema(Schema):
    node_id = fields.String()
    tenant = fields.String(metadata={"description": "The tenant's slug on its node"})
    name = fields.String(metadata={"description": "The tenant's (public) name"})
    region = fields.String(metadata={"description": "The tenant's 6-digit region code"})
    as_of = fields.DateTime(metadata={"description": "When the node last reported the entry"})


class DuplicateSchema(Schema):
    hash = fields.String(metadata={"description": "Keyed hash (HMAC-SHA256) of the national "
                                                  "ID; the hub never holds the ID itself"})
    places = fields.List(fields.Nested(PlaceSchema), metadata={
        "description": "The tenants where the person is on the rolls (two or more)"})
    since = fields.DateTime(allow_none=True, metadata={
        "description": "When the nodes were first told of this duplicate"})


class DuplicatePageSchema(Schema):
    items = fields.List(fields.Nested(DuplicateSchema))
    next_cursor = fields.String(allow_none=True)


class DuplicateQueryArgsSchema(CursorPageArgsSchema):
    pass
