"""The quarantine over the API: held messages, and an operator's release or discard."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.web.schema import Schema

#: What an operator may have done with a quarantined message (or not yet).
QUARANTINE_STATES = ("held", "released", "discarded")


class QuarantinedMessageSchema(Schema):
    id = fields.Integer()
    reason = fields.String()
    detail = fields.String()
    source = fields.String(allow_none=True, metadata={"description": "As claimed: maybe "
                                                                     "unverified"})
    message_id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    tenant = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(QUARANTINE_STATES)})
    times_seen = fields.Integer()
    received_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True)


class QuarantinedMessageDetailSchema(QuarantinedMessageSchema):
    body = fields.String(metadata={"description": "The message as received (UTF-8, "
                                                  "undecodable bytes replaced)"})


class QuarantinePageSchema(Schema):
    items = fields.List(fields.Nested(QuarantinedMessageSchema))
    next_cursor = fields.String(allow_none=True)


class QuarantineQueryArgsSchema(Schema):
    status = fields.String(load_default="held",
                           validate=validate.OneOf([*QUARANTINE_STATES, "all"]))
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    source = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class ResolutionSchema(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class ReleaseResultSchema(QuarantinedMessageSchema):
    outcome = fields.String(metadata={"description": "What receiving it did: applied, "
                                                     "duplicate, parked, ..."})
