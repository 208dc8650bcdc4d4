"""The registry of message types: type name -> the marshmallow schema both sides validate with.

A type name is dotted and ends with its version (`partynet.bus.ack.v1`). A schema is registered
once, when its module is imported, and is checked at that moment: it must refuse unknown fields,
be built only from the strict fields in `federation.messages.fields`, and carry an `example`
that it accepts (tests and docs/protocol.md use the examples).

Changing the meaning of a registered type is not allowed: publish `.v2` next to `.v1`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

from marshmallow import RAISE, Schema, fields

from federation.canonical import encode_canonical
from federation.messages.fields import Bool, Int, List, MessageSchema, Nested, Str

__all__ = ["MESSAGE_TYPES", "TYPE_PATTERN", "register", "schema_for", "validate_data"]

#: A message type name: lowercase dotted segments, then `.v<N>`.
TYPE_PATTERN: Final = re.compile(
    r"(?=.{1,128}$)[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*"
)

_classes: dict[str, type[MessageSchema]] = {}
_instances: dict[str, MessageSchema] = {}

#: Read-only view: type name -> schema class.
MESSAGE_TYPES: Mapping[str, type[MessageSchema]] = MappingProxyType(_classes)

_S = TypeVar("_S", bound=type[MessageSchema])


def register(type_name: str) -> Callable[[_S], _S]:
    """Class decorator: make `type_name` a message type validated by the decorated schema."""
    if TYPE_PATTERN.fullmatch(type_name) is None:
        raise ValueError(f"a message type looks like partynet.<area>.<name>.v1: {type_name!r}")

    def decorator(cls: _S) -> _S:
        existing = _classes.get(type_name)
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise ValueError(f"{type_name} is already registered by {_qualname(existing)}")
        if not (isinstance(cls, type) and issubclass(cls, MessageSchema)):
            raise TypeError(f"{cls!r} must subclass federation.messages.fields.MessageSchema")
        schema = cls()
        _check_strict(schema, cls.__name__)
        example = getattr(cls, "example", None)
        if type(example) is not dict:
            raise TypeError(f"{cls.__name__} needs an `example` dict (used by tests and docs)")
        encode_canonical(example)
        schema.load(example)  # a schema that rejects its own example is a bug: fail at import
        _classes[type_name] = cls
        _instances[type_name] = schema
        return cls

    return decorator


def schema_for(type_name: str) -> MessageSchema:
    """The shared schema instance for `type_name`; KeyError when the type is unknown."""
    return _instances[type_name]


def validate_data(type_name: str, data: Any) -> dict[str, Any]:
    """`data` as loaded by the type's schema; KeyError (unknown type) or ValidationError."""
    return _instances[type_name].load(data)


_ALLOWED_FIELDS = (Int, Str, Bool, List, Nested)


def _check_strict(schema: Schema, where: str) -> None:
    if schema.unknown != RAISE:
        raise TypeError(f"{where}: message schemas must set unknown = RAISE")
    for name, field in schema.fields.items():
        _check_field(field, f"{where}.{name}")


def _check_field(field: fields.Field, where: str) -> None:
    if not isinstance(field, _ALLOWED_FIELDS):
        raise TypeError(
            f"{where}: use the strict fields of federation.messages.fields "
            f"(Int, Str, Bool, List, Nested and their subclasses), not {type(field).__name__}"
        )
    if isinstance(field, List):
        _check_field(field.inner, f"{where}[]")
    elif isinstance(field, Nested):
        nested = field.schema
        if not isinstance(nested, MessageSchema):
            raise TypeError(f"{where}: nested schemas must subclass MessageSchema")
        _check_strict(nested, where)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
