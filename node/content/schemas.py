"""API contract of articles and notices."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage

from node.content.models import ArticleKind, ArticleStatus, Visibility
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_id = dict(validate=validate.Range(min=1, max=2**31 - 1))
_title = fields.String(validate=validate.Length(min=1, max=200))
_summary = fields.String(validate=validate.Length(max=1000))
#: Plain text or Markdown, at most 1 MB of characters (only 64 KB of it reach the hub).
_body = fields.String(validate=validate.Length(max=1_000_000), metadata={
    "description": "Plain text (Markdown allowed). Stored and served as text, never as HTML."})


class ArticleQueryArgsSchema(CursorPageArgsSchema):
    org_id = fields.Integer(load_default=None, **_id, metadata={
        "description": "Only articles of this organization's subtree"})
    kind = fields.Enum(ArticleKind, load_default=None)
    status = fields.Enum(ArticleStatus, load_default=None)
    visibility = fields.Enum(Visibility, load_default=None)


class ArticleCreateSchema(Schema):
    org_id = fields.Integer(required=True, **_id)
    kind = fields.Enum(ArticleKind, load_default=ArticleKind.article)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = _summary
    body = _body
    visibility = fields.Enum(Visibility, load_default=Visibility.public)


class ArticleUpdateSchema(Schema):
    kind = fields.Enum(ArticleKind)
    title = _title
    summary = _summary
    body = _body
    visibility = fields.Enum(Visibility)


class WithdrawSchema(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class AttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


class ArticleSummarySchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_code = fields.String()
    kind = fields.Enum(ArticleKind)
    title = fields.String()
    summary = fields.String()
    visibility = fields.Enum(Visibility)
    status = fields.Enum(ArticleStatus)
    published_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    view_count = fields.Integer()
    like_count = fields.Integer()


class ArticleSchema(ArticleSummarySchema):
    body = fields.String()
    created_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    withdraw_reason = fields.String(allow_none=True)
    on_hub = fields.Boolean(metadata={"description": "Whether the national feed carries it"})
    liked = fields.Boolean(metadata={"description": "Whether you like it"})
    attachments = fields.List(fields.Nested(AttachmentSchema))


class ArticlePageSchema(Schema):
    items = fields.List(fields.Nested(ArticleSummarySchema))
    next_cursor = fields.String(allow_none=True)


class CountersSchema(Schema):
    view_count = fields.Integer()
    like_count = fields.Integer()
    liked = fields.Boolean()


def _is_upload(value: Any) -> None:
    if not isinstance(value, FileStorage):
        raise ma.ValidationError("Upload the file as a multipart file part.")


class AttachmentUploadSchema(Schema):
    file = Upload(required=True, validate=_is_upload, metadata={
        "description": "The file (its name and content type are kept for the download)"})
