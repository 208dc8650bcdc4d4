"""API contract for the tenant administrators' view of the node's quarantine."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

#: What a list asks for: `all` is every status.
STATUS_CHOICES = ("held", "released", "discarded", "all")


class QuarantineEntrySchema(Schema):
    """A message that was not applied, as the node recorded it (source, type and tenant are as
    the message claims them: a refused message may not be what it says)."""

    id = fields.Integer()
    reason = fields.String(metadata={"description": "Why it was not applied (stable code)"})
    detail = fields.String()
    source = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    tenant = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "held, released or discarded"})
    times_seen = fields.Integer()
    received_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True, metadata={"description": "The note given"})


class QuarantineEntryDetailSchema(QuarantineEntrySchema):
    body = fields.Function(
        lambda entry: bytes(entry.body).decode("utf-8", "replace"),
        metadata={"description": "The message as received (UTF-8; undecodable bytes replaced)"})


class QuarantinePageSchema(Schema):
    items = fields.List(fields.Nested(QuarantineEntrySchema))
    next_cursor = fields.String(allow_none=True)


class QuarantineQueryArgsSchema(CursorPageArgsSchema):
    status = fields.String(load_default="held", validate=validate.OneOf(STATUS_CHOICES))
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class QuarantineResolveSchema(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=1000),
                         metadata={"description": "Why (recorded with the decision)"})


class QuarantineReleaseSchema(Schema):
    entry = fields.Nested(QuarantineEntrySchema)
    outcome = fields.String(metadata={"description": "What receiving it did: applied, "
                                                    "duplicate, parked, ..."})
