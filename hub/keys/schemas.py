"""The signed key directory, as documented in the OpenAPI description."""

from __future__ import annotations

from marshmallow import fields

from shared.web.schema import Schema


class DirectorySchema(Schema):
    """The signed key directory (docs/protocol.md, "The key directory"); served as the exact
    canonical bytes the hub signed."""

    version = fields.Integer()
    issued_at = fields.String()
    keys = fields.List(fields.Dict())
    revoked_owners = fields.List(fields.Dict())
    signatures = fields.Dict()
