"""List pages dumped by a plan compiled once from their marshmallow schema.

Marshmallow's per-field machinery costs a few microseconds a value, which is a quarter of a
member list request (50 rows × 11 fields). `CompiledList` keeps the schema as the contract (the
OpenAPI document and the field names come from it) but dumps each row with a precomputed list of
(key, attribute, converter). Only plain field types are accepted, so a schema this cannot dump
exactly fails at import, not in a response; tests compare it with `Schema.dump`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, fields

Converter = Callable[[Any], Any] | None

_PASSTHROUGH = (fields.String, fields.Integer, fields.Boolean)


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


def _converter(name: str, field: fields.Field) -> Converter:
    if isinstance(field, fields.Enum):
        if field.by_value is True:
            return lambda member: member.value
        if field.by_value is False:
            return lambda member: member.name
    elif isinstance(field, fields.Date | fields.DateTime):
        if field.format in (None, "iso"):
            return _iso
    elif isinstance(field, _PASSTHROUGH) and not isinstance(field, fields.Enum):
        return None
    raise TypeError(f"{name}: {type(field).__name__} cannot be compiled; dump it with the schema")


def compile_dumper(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """A function dumping one row (a mapping or an object) exactly as `schema.dump` would."""
    plan = [(field.data_key or name, field.attribute or name, _converter(name, field))
            for name, field in schema.dump_fields.items()]

    def dump(item: Any) -> dict[str, Any]:
        get = item.__getitem__ if isinstance(item, Mapping) else item.__getattribute__
        out = {}
        for key, attr, convert in plan:
            value = get(attr)
            out[key] = convert(value) if convert is not None and value is not None else value
        return out

    return dump


class CompiledList(fields.List):
    """`List(Nested(schema))` in the API document; a compiled plan when dumping."""

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(fields.Nested(schema), **kwargs)
        self._dump_one = compile_dumper(schema())

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        dump = self._dump_one
        return [dump(item) for item in value]

