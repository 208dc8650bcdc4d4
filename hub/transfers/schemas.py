"""API contract of the national view of transfers (metadata only: never a person)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

FLAGS = ("in_flight", "overdue", "expired")
#: As hub.transfers.services.STATES (schemas do not import services).
STATES = ("issued", "rejected", "claimed", "released", "refused", "undeliverable", "closed",
          "cancelled")


class SideSchema(Schema):
    node = fields.String(metadata={"description": "The node's party id"})
    tenant = fields.String(metadata={"description": "The tenant's slug on its node"})
    region = fields.String(allow_none=True,
                           metadata={"description": "The tenant's 6-digit region code"})


class TransferSchema(Schema):
    uid = fields.String(metadata={"description": "The transfer's network-wide id"})
    origin = fields.Nested(SideSchema, metadata={"description": "The sending side, responsible "
                                                                "until the member is received"})
    destination = fields.Nested(SideSchema)
    to_org_code = fields.String(allow_none=True, metadata={
        "description": "The code of the organization the letter is addressed to"})
    attempt = fields.Integer(metadata={"description": "Letters issued so far (reissues)"})
    state = fields.String(metadata={"description": f"One of {', '.join(STATES)}"})
    last_step = fields.String()
    last_step_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    refusal = fields.String(allow_none=True, metadata={
        "description": "Why the hub did not route the last step (undeliverable)"})
    overdue = fields.Boolean(metadata={"description": "In flight with no step for 14 days"})
    expired = fields.Boolean(metadata={"description": "The letter's validity has passed"})


class TransferPageSchema(Schema):
    items = fields.List(fields.Nested(TransferSchema))
    next_cursor = fields.String(allow_none=True)


class TransferQueryArgsSchema(CursorPageArgsSchema):
    flag = fields.String(load_default=None, validate=ma.validate.OneOf(FLAGS))
    state = fields.String(load_default=None, validate=ma.validate.OneOf(STATES))
    region = fields.String(load_default=None, validate=ma.validate.Regexp(
        r"^[0-9]{2,6}$", error="A region code or its first digits (2-6 digits)."))


class RegionCountsSchema(Schema):
    region = fields.String()
    outgoing = fields.Integer(metadata={"description": "In flight from this region"})
    incoming = fields.Integer(metadata={"description": "In flight to this region"})
    overdue = fields.Integer(metadata={"description": "Overdue, from this region"})
    expired = fields.Integer(metadata={"description": "Expired, from this region"})


class TransferSummarySchema(Schema):
    in_flight = fields.Integer()
    overdue = fields.Integer()
    expired = fields.Integer()
    closed = fields.Integer()
    regions = fields.List(fields.Nested(RegionCountsSchema))
