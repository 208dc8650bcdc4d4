"""API contract of transfers of the organization relationship (one side of each transfer)."""

from __future__ import annotations

from marshmallow import fields, validate

from node.transfers.models import Chain, Side, State
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

SLUG = validate.Regexp(r"^[a-z][a-z0-9-]{1,39}$")
CODE = validate.Regexp(r"^\d{6,64}$")
REJECT_CODES = ("refused", "unknown_org", "already_active", "other")


class TransferQueryArgsSchema(CursorPageArgsSchema):
    side = fields.Enum(Side, by_value=True, load_default=None, metadata={
        "description": "out: letters your tenant sends; in: letters it receives"})
    state = fields.Enum(State, by_value=True, load_default=None)
    org_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1),
                            metadata={"description": "Only sides in this org's subtree"})
    overdue = fields.Boolean(load_default=False, metadata={
        "description": "Open past the letter's validity, or released with no receipt for 14 "
                       "days"})
    actionable = fields.Boolean(load_default=False, metadata={
        "description": "Only those waiting for an approval you may give"})
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=60),
                      metadata={"description": "Part of the member's name or the serial"})


class TransferSummarySchema(Schema):
    id = fields.Integer()
    uid = fields.String(metadata={"description": "The transfer's network-wide id"})
    side = fields.Enum(Side, by_value=True)
    state = fields.Enum(State, by_value=True)
    attempt = fields.Integer(metadata={"description": "Letters sent so far (0: none yet)"})
    serial = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    member_name = fields.String()
    org_code = fields.String(metadata={"description": "The org handling this side now"})
    from_tenant = fields.String()
    from_org_code = fields.String()
    from_org_name = fields.String()
    to_tenant = fields.String()
    to_org_code = fields.String()
    to_org_name = fields.String()
    valid_until = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class TransferApprovalSchema(Schema):
    chain = fields.Enum(Chain, by_value=True)
    attempt = fields.Integer()
    position = fields.Integer()
    org_id = fields.Integer()
    org_code = fields.String()
    org_name = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class TransferEventSchema(Schema):
    at = fields.DateTime()
    attempt = fields.Integer()
    action = fields.String()
    actor = fields.String()
    org_code = fields.String(allow_none=True)
    state = fields.Enum(State, by_value=True)
    note = fields.String(allow_none=True)


class TransferSchema(TransferSummarySchema):
    from_node = fields.String()
    to_node = fields.String()
    reason = fields.String()
    issuer_org_code = fields.String(allow_none=True)
    receiving_org_id = fields.Integer(allow_none=True)
    dues_paid_up_to = fields.String(allow_none=True, metadata={"description": "YYYY-MM"})
    issued_at = fields.DateTime(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    released_at = fields.DateTime(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reason_text = fields.String(allow_none=True)
    destination_member_number = fields.String(allow_none=True)
    destination_org_code = fields.String(allow_none=True)
    approvals = fields.List(fields.Nested(TransferApprovalSchema))
    events = fields.List(fields.Nested(TransferEventSchema))
    actions = fields.List(fields.String(), metadata={
        "description": "What you may do now: approve, reject, assign, cancel, resend, "
                       "reissue, void"})


class TransferPageSchema(Schema):
    items = fields.List(fields.Nested(TransferSummarySchema))
    next_cursor = fields.String(allow_none=True)


class TransferCreateSchema(Schema):
    member_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "Omit to apply for yourself"})
    to_tenant = fields.String(required=True, validate=SLUG)
    to_org_code = fields.String(required=True, validate=CODE)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class TransferApproveSchema(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    branch_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "Receiving side: assign the branch "
                                                        "in the same step"})


class TransferRejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    reason_code = fields.String(load_default="refused", validate=validate.OneOf(REJECT_CODES))


class TransferResendSchema(Schema):
    to_tenant = fields.String(load_default=None, validate=SLUG)
    to_org_code = fields.String(load_default=None, validate=CODE)
    reason = fields.String(load_default=None, validate=validate.Length(max=255))


class TransferCancelSchema(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class TransferVoidSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=500))


class TransferAssignSchema(Schema):
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class DestinationSchema(Schema):
    node = fields.String()
    slug = fields.String(metadata={"description": "The `to_tenant` of an application"})
    name = fields.String()
    region_code = fields.String()
    code_prefix = fields.String(metadata={
        "description": "Every organization code of the tenant starts with it"})
