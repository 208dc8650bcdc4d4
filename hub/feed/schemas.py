"""The national feed's API contract: filters, paging and the items (public content only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from federation.messages.content import KINDS
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

ORDERS = ("relevance", "recent", "popular")


class FeedQueryArgsSchema(CursorPageArgsSchema):
    region = fields.String(load_default=None, validate=validate.Regexp(r"[0-9]{1,6}\Z"),
                           metadata={"description": "A region code prefix (GB/T 2260 digits)"})
    org = fields.String(load_default=None, validate=validate.Regexp(r"[0-9]{1,64}\Z"),
                        metadata={"description": "An organization code prefix"})
    tenant = fields.String(load_default=None,
                           validate=validate.Regexp(r"[a-z][a-z0-9-]{1,39}\Z"))
    node = fields.String(load_default=None,
                         validate=validate.Regexp(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z"))
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    start = fields.Date(load_default=None, data_key="from",
                        metadata={"description": "Published on or after this day (UTC)"})
    end = fields.Date(load_default=None, data_key="to",
                      metadata={"description": "Published on or before this day (UTC)"})

    @validates_schema
    def _range(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("from is after to.", "from")

    @post_load
    def _times(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        start, end = data.pop("start"), data.pop("end")
        data["start"] = (dt.datetime.combine(start, dt.time(), dt.UTC)
                         if start else None)
        data["end"] = (dt.datetime.combine(end, dt.time(), dt.UTC) + dt.timedelta(days=1)
                       if end else None)
        return data


class SearchQueryArgsSchema(FeedQueryArgsSchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    order = fields.String(load_default="relevance", validate=validate.OneOf(ORDERS))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class FeedItemSchema(Schema):
    id = fields.Integer()
    content_key = fields.String()
    node = fields.String(attribute="node_id")
    tenant = fields.String()
    region = fields.String()
    org_code = fields.String()
    org_name = fields.String()
    kind = fields.String()
    title = fields.String()
    summary = fields.String()
    published_at = fields.DateTime()
    updated_at = fields.DateTime()
    views = fields.Integer()
    likes = fields.Integer()


class FeedItemDetailSchema(FeedItemSchema):
    body = fields.String()
    body_truncated = fields.Boolean()
    content_hash = fields.String()


class FeedPageSchema(Schema):
    items = fields.List(fields.Nested(FeedItemSchema))
    next_cursor = fields.String(allow_none=True)


class SearchHitSchema(FeedItemSchema):
    rank = fields.Float()
    title_html = fields.String(metadata={
        "description": "The title, HTML-escaped, with matched words in <mark>"})
    summary_html = fields.String(metadata={
        "description": "The summary, HTML-escaped, with matched words in <mark>"})


class SearchPageSchema(Schema):
    terms = fields.List(fields.String(), metadata={
        "description": "The words searched for (the query segmented like the index)"})
    items = fields.List(fields.Nested(SearchHitSchema))
    next_cursor = fields.String(allow_none=True)


class TakedownSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Recorded, and sent to the origin node."})


class TakedownResultSchema(Schema):
    id = fields.Integer()
    content_key = fields.String()
    node_id = fields.String()
    taken_down_at = fields.DateTime()
    taken_down_by = fields.String()
    takedown_reason = fields.String()
