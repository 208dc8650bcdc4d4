"""Strict marshmallow fields for message schemas: JSON types are never coerced.

marshmallow's own fields are lenient on input ("1" is an Integer, "yes" is a Boolean, a tuple is
a List). Messages are signed facts, so a schema accepts exactly the JSON type it declares and the
registry refuses schemas built from anything else.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from federation.canonical import MAX_SAFE_INTEGER
from federation.keys import KEY_ID_PATTERN, PARTY_ID_PATTERN, parse_time

__all__ = ["Bool", "Int", "KeyId", "List", "MessageSchema", "Nested", "PartyId", "Str", "Time"]


class MessageSchema(Schema):
    """Base of every message (and nested) schema: unknown fields are an error."""

    class Meta:
        unknown = RAISE


class Int(fields.Integer):
    """A JSON integer (not a bool, float or string) within ±(2**53 − 1)."""

    default_error_messages = {"invalid": "Not a valid integer.", "too_large": "Number too large."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if type(value) is not int:
            raise self.make_error("invalid", input=value)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise self.make_error("too_large", input=value)
        return value


class Str(fields.String):
    """A JSON string, nothing else (marshmallow's String also takes bytes)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if type(value) is not str:
            raise self.make_error("invalid")
        return value


class Bool(fields.Boolean):
    """`true` or `false` only (marshmallow's Boolean also takes "yes", 1, "on"...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class List(fields.List):
    """A JSON array (marshmallow's List takes any collection)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if type(value) is not list:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Nested(fields.Nested):
    """A nested `MessageSchema` (the registry checks the nested schema is strict too)."""


class Pattern(Str):
    """A string that must match `pattern` whole (subclass and set `pattern` and `message`)."""

    pattern: re.Pattern[str]
    message = "Invalid format."

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.pattern.fullmatch(text) is None:
            raise ValidationError(self.message)
        return text


class Time(Str):
    """A time as the wire writes it (`2025-03-01T12:00:00.123Z`); loaded as the same string, so
    the data stays canonical JSON. Use `federation.keys.parse_time` to get a datetime."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parse_time(text)
        except ValueError:
            raise ValidationError("Not a UTC time like 2025-03-01T12:00:00.123Z.") from None
        return text


class KeyId(Pattern):
    pattern = KEY_ID_PATTERN
    message = "Not a key id like ed25519:<kid>."


class PartyId(Pattern):
    pattern = PARTY_ID_PATTERN
    message = "Not a party id (a node id or hub)."
