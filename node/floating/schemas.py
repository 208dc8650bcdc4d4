"""API contract of floating certificates (流动党员活动证) and the host's participation records.

The host side of a certificate carries no national ID (it is never copied there); `member_id`
is set on the home side only.
"""

from __future__ import annotations

from marshmallow import fields, validate

from node.floating.models import (
    EndReason,
    FloatingSide,
    FloatingStatus,
    ParticipationStatus,
)
from node.members.models import Stage
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_id = dict(validate=validate.Range(min=1, max=2**31 - 1))


class CertificateQueryArgsSchema(CursorPageArgsSchema):
    side = fields.Enum(FloatingSide, load_default=None, metadata={
        "description": "home: our members floating elsewhere; host: floating members with us"})
    status = fields.Enum(FloatingStatus, load_default=None)


class CertificateCreateSchema(Schema):
    member_id = fields.Integer(required=True, **_id)
    host_tenant = fields.String(load_default=None, validate=validate.Length(min=1, max=40),
                                metadata={"description": "The host's tenant slug, on this node "
                                                         "or another node in the hub's tenant "
                                                         "directory (default: this tenant)"})
    host_org_code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                  metadata={"description": "The host branch's unified code"})
    starts_on = fields.Date(required=True)
    until = fields.Date(required=True, metadata={"description": "At most two years after "
                                                                "`starts_on`"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class DeclineSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class EndSchema(Schema):
    reason = fields.Enum(EndReason, load_default=EndReason.returned, metadata={
        "description": "returned (default); a pending certificate ends as cancelled; expiry, "
                       "a transfer and an undeliverable step are recorded by the node"})


class ParticipationCreateSchema(Schema):
    meeting_id = fields.Integer(required=True, **_id, metadata={
        "description": "A held meeting of the host organization within the validity"})
    status = fields.Enum(ParticipationStatus, required=True)
    reason = fields.String(load_default=None, validate=validate.Length(max=300), metadata={
        "description": "Required for excused"})


class ParticipationSchema(Schema):
    meeting_ref = fields.String(metadata={"description": "<host tenant>:<meeting id>"})
    meeting_id = fields.Integer(allow_none=True, metadata={
        "description": "The host's meeting (host side only)"})
    kind = fields.String()
    title = fields.String()
    occurred_on = fields.Date()
    status = fields.Enum(ParticipationStatus)
    reason = fields.String(allow_none=True)


class CertificateSchema(Schema):
    id = fields.Integer()
    uid = fields.String(metadata={"description": "Network-wide id shared by both sides"})
    side = fields.Enum(FloatingSide)
    number = fields.String()
    status = fields.Enum(FloatingStatus)
    member_id = fields.Integer(allow_none=True)
    member_name = fields.String()
    member_number = fields.String()
    member_stage = fields.Enum(Stage)
    member_phone = fields.String(allow_none=True)
    member_email = fields.String(allow_none=True)
    home_tenant_slug = fields.String()
    home_org_code = fields.String()
    home_org_name = fields.String()
    host_tenant_slug = fields.String()
    host_tenant_name = fields.String()
    host_org_code = fields.String()
    host_org_name = fields.String()
    starts_on = fields.Date()
    until = fields.Date()
    reason = fields.String()
    decline_reason = fields.String(allow_none=True)
    end_reason = fields.Enum(EndReason, allow_none=True)
    ended_on = fields.Date(allow_none=True)
    end_detail = fields.String(allow_none=True, metadata={
        "description": "Why it ended, when the reason needs one (undeliverable: the hub's "
                       "refusal)"})
    peer_node = fields.String(allow_none=True, metadata={
        "description": "The other side's node when it is not this one"})


class CertificateDetailSchema(CertificateSchema):
    participation = fields.List(fields.Nested(ParticipationSchema))


class CertificatePageSchema(Schema):
    items = fields.List(fields.Nested(CertificateSchema))
    next_cursor = fields.String(allow_none=True)


class MyCertificatesSchema(Schema):
    items = fields.List(fields.Nested(CertificateSchema))
