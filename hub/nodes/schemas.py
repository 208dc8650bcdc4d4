"""The enrollment contract between a node's CLI and the hub (docs/protocol.md, "Enrollment")."""

from __future__ import annotations

from marshmallow import fields, validate

from federation.keys import KEY_ID_PATTERN, PARTY_ID_PATTERN, encode_base64, format_time
from shared.web.schema import Schema


class TenantClaimSchema(Schema):
    slug = fields.String(required=True, validate=validate.Regexp(r"[a-z][a-z0-9-]{1,39}\Z"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    code_prefix = fields.String(required=True, validate=validate.Regexp(r"[0-9]{6,12}\Z"))


class EnrollmentRequestSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200),
                          metadata={"description": "The one-time enrollment token"})
    node_id = fields.String(required=True,
                            validate=validate.Regexp(PARTY_ID_PATTERN.pattern + r"\Z"),
                            metadata={"description": "The node's party id (NODE_NODE_ID)"})
    key_id = fields.String(required=True,
                           validate=validate.Regexp(KEY_ID_PATTERN.pattern + r"\Z"),
                           metadata={"example": "ed25519:Zk3vQ9aL2m"})
    public_key = fields.String(required=True, validate=validate.Length(equal=43), metadata={
        "description": "The node's Ed25519 public key, 32 bytes in unpadded base64"})
    tenants = fields.List(fields.Nested(TenantClaimSchema), required=True,
                          validate=validate.Length(max=100))


class PublicKeySchema(Schema):
    owner = fields.String()
    key_id = fields.String()
    public = fields.Function(lambda key: encode_base64(key.public),
                             metadata={"description": "Unpadded base64"})
    valid_from = fields.Function(lambda key: format_time(key.valid_from))
    valid_until = fields.Function(lambda key: format_time(key.valid_until))


class RegisteredTenantSchema(Schema):
    slug = fields.String()
    name = fields.String()
    code_prefix = fields.String()
    region = fields.String(metadata={"description": "6-digit GB/T 2260 division code"})


class EnrollmentSchema(Schema):
    node_id = fields.String()
    hub_keys = fields.List(fields.Nested(PublicKeySchema), metadata={
        "description": "The hub's keys: the node pins them and checks directories with them"})
    tenants = fields.List(fields.Nested(RegisteredTenantSchema))
    directory = fields.Function(lambda e: e.directory.decode("utf-8"), metadata={
        "description": "The signed key directory (canonical JSON, as a string)"})
    directory_version = fields.Integer()
    revoked_keys = fields.List(fields.String(), metadata={
        "description": "The node's earlier keys revoked by this enrollment"})

