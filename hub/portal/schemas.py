"""The portal pages' query parameters (the feed's filters, reused; unknown parameters such as
`lang` are ignored). Empty form fields count as absent."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, ValidationError, fields, pre_load, validate, validates_schema

from hub.feed.schemas import ORDERS, FeedQueryArgsSchema
from hub.stats.metrics import METRICS
from shared.web.schema import Schema

PAGE_SIZE = 10
#: Search pages reach this deep at most (the feed's MAX_SEARCH_OFFSET, in pages).
MAX_PAGE = 100


def _without_blanks(data: Any) -> Any:
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    return {key: value for key, value in dict(data).items()
            if not (isinstance(value, str) and not value.strip())}


class SearchPageArgsSchema(FeedQueryArgsSchema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", validate=validate.Length(max=200))
    order = fields.String(load_default="relevance", validate=validate.OneOf(ORDERS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))

    @pre_load
    def _blanks(self, data: Any, **_kwargs: Any) -> Any:
        return _without_blanks(data)


class CodeList(fields.Field):
    """Codes typed into one box, separated by spaces or commas: up to `most`, 1–12 digits."""

    _SPLIT = re.compile(r"[\s,，;；、]+")

    def __init__(self, most: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.most = most

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationError("Codes separated by spaces.")
        codes = list(dict.fromkeys(code for code in self._SPLIT.split(value) if code))
        if len(codes) > self.most or not all(re.fullmatch(r"[0-9]{1,12}", c) for c in codes):
            raise ValidationError(f"At most {self.most} codes of 1-12 digits.")
        return codes


class StatsPageArgsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    prefix = fields.String(load_default="", validate=validate.Regexp(r"[0-9]{0,12}\Z"))
    period = fields.Date(load_default=None)
    metric = fields.String(load_default="party_members", validate=validate.OneOf(list(METRICS)))
    start = fields.Date(load_default=None, data_key="from")
    end = fields.Date(load_default=None, data_key="to")
    compare = CodeList(most=5, load_default=list)

    @pre_load
    def _blanks(self, data: Any, **_kwargs: Any) -> Any:
        return _without_blanks(data)

    @validates_schema
    def _range(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("from is after to.", "from")


class StatsExportArgsSchema(StatsPageArgsSchema):
    """The console's statistics file: what the page shows, as CSV or XLSX."""

    what = fields.String(load_default="rollup",
                         validate=validate.OneOf(["rollup", "ranking", "compare", "trends"]))
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


def load(schema: Schema, args: Any) -> tuple[dict[str, Any], list[str]]:
    """The loaded arguments, or ({}, the names of the parameters that are wrong)."""
    try:
        return schema.load(args), []
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        return {}, sorted(str(name) for name in messages) or ["_schema"]
