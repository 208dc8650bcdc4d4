"""The message registry: every registered schema is strict, checked from the registry itself so
that a type added later is covered without touching this file."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from marshmallow import EXCLUDE, ValidationError, fields

from federation.canonical import encode_canonical
from federation.messages import MESSAGE_TYPES, MessageSchema, register, schema_for, validate_data
from federation.messages.fields import Bool, Int, List, Nested, Str

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# One value of each JSON type; float is never acceptable anywhere.
SAMPLES: dict[str, Any] = {
    "int": 1,
    "str": "x",
    "bool": True,
    "null": None,
    "list": [],
    "dict": {},
    "float": 1.5,
    "integral-float": 1.0,
}


def accepted_kinds(field: fields.Field) -> set[str]:
    if isinstance(field, Int):
        kinds = {"int"}
    elif isinstance(field, Str):
        kinds = {"str"}
    elif isinstance(field, Bool):
        kinds = {"bool"}
    elif isinstance(field, List):
        kinds = {"list"}
    elif isinstance(field, Nested):
        kinds = {"list"} if field.many else {"dict"}
    else:  # the registry refuses other fields; fail loudly if that ever changes
        raise AssertionError(f"unexpected field {field!r}")
    if field.allow_none:
        kinds.add("null")
    return kinds


def mutations(schema: MessageSchema, example: dict[str, Any],
              path: tuple[Any, ...] = ()) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(description, path into the example, value to put there) for every way to be wrong."""
    yield "unknown field", (*path, "unexpected_field"), "x"
    for name, field in schema.fields.items():
        where = (*path, name)
        yield from _wrong_values(field, where)
        value = example.get(name)
        if isinstance(field, List) and value:
            yield from _wrong_values(field.inner, (*where, 0))
            if isinstance(field.inner, Nested):
                yield from mutations(field.inner.schema, value[0], (*where, 0))
        elif isinstance(field, Nested) and isinstance(value, dict):
            yield from mutations(field.schema, value, where)


def _wrong_values(field: fields.Field, where: tuple[Any, ...]) -> Iterator[tuple[str, Any, Any]]:
    ok = accepted_kinds(field)
    for kind, sample in SAMPLES.items():
        if kind not in ok:
            yield f"{kind} for {'.'.join(map(str, where))}", where, sample


def cases() -> Iterator[Any]:
    for type_name, cls in sorted(MESSAGE_TYPES.items()):
        for description, path, value in mutations(schema_for(type_name), cls.example):
            yield pytest.param(type_name, path, value, id=f"{type_name}: {description}")


def put(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def test_the_built_in_types_are_registered() -> None:
    assert set(MESSAGE_TYPES) >= {
        "partynet.bus.ack.v1",
        "partynet.bus.resend.v1",
        "partynet.bus.ping.v1",
        "partynet.node.heartbeat.v1",
        "partynet.keys.revoked.v1",
    }


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        MESSAGE_TYPES["partynet.x.y.v1"] = MessageSchema  # type: ignore[index]


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_example_is_valid_canonical_and_complete(type_name: str) -> None:
    example = MESSAGE_TYPES[type_name].example
    encode_canonical(example)
    assert validate_data(type_name, example) == example
    assert set(example) == set(schema_for(type_name).fields), "the example shows every field"


@pytest.mark.parametrize(("type_name", "path", "value"), list(cases()))
def test_schema_rejects(type_name: str, path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(ValidationError):
        validate_data(type_name, put(MESSAGE_TYPES[type_name].example, path, value))


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_required_fields_are_required(type_name: str) -> None:
    schema = schema_for(type_name)
    example = MESSAGE_TYPES[type_name].example
    for name, field in schema.fields.items():
        trimmed = {k: v for k, v in example.items() if k != name}
        if field.required:
            with pytest.raises(ValidationError):
                validate_data(type_name, trimmed)
        else:
            assert validate_data(type_name, trimmed) == trimmed


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_data_must_be_an_object(type_name: str) -> None:
    for value in ([], "x", 1, None):
        with pytest.raises(ValidationError):
            validate_data(type_name, value)


def test_unknown_type_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        schema_for("partynet.nothing.here.v1")
    with pytest.raises(KeyError):
        validate_data("partynet.nothing.here.v1", {})


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_every_type_is_documented(type_name: str) -> None:
    assert f"`{type_name}`" in PROTOCOL_DOC.read_text("utf-8")


# --- specific rules of the built-in types --------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "data"),
    [
        ("partynet.bus.ack.v1", {"up_to": -1}),
        ("partynet.bus.ack.v1", {"up_to": 2**53}),
        ("partynet.bus.resend.v1", {"from_sequence": 0}),
        ("partynet.bus.ping.v1", {"payload": "x" * 4097}),
        ("partynet.node.heartbeat.v1",
         {"version": "1", "backlog": -1, "lag_seconds": 0, "tenants": []}),
        ("partynet.node.heartbeat.v1",
         {"version": "1", "backlog": 0, "lag_seconds": 0, "tenants": [""]}),
        ("partynet.keys.revoked.v1",
         {"owner": "node-a", "key_id": "abc", "at": "2025-03-01T12:00:00.000Z"}),
        ("partynet.keys.revoked.v1",
         {"owner": "node-a", "key_id": None, "at": "2025-03-01T12:00:00Z"}),
        ("partynet.keys.revoked.v1",
         {"owner": "node a", "key_id": None, "at": "2025-03-01T12:00:00.000Z"}),
    ],
)
def test_built_in_rules(type_name: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_data(type_name, data)


def test_built_in_edges_that_are_fine() -> None:
    assert validate_data("partynet.bus.ack.v1", {"up_to": 0}) == {"up_to": 0}
    assert validate_data("partynet.bus.ping.v1", {}) == {}
    assert validate_data("partynet.bus.ping.v1", {"payload": "x" * 4096})
    revoked = {"owner": "node-a", "key_id": None, "at": "2025-03-01T12:00:00.000Z"}
    assert validate_data("partynet.keys.revoked.v1", revoked) == revoked


# --- the registry refuses lax schemas ----------------------------------------------------------


def test_register_refuses_bad_type_names() -> None:
    for name in ("ping", "partynet.ping", "partynet.bus.ping.V1", "partynet.bus.ping.v0",
                 "Partynet.bus.ping.v1", "partynet..ping.v1"):
        with pytest.raises(ValueError):
            register(name)


def test_register_refuses_lax_schemas() -> None:
    with pytest.raises(TypeError, match="Float"):
        @register("partynet.test.floaty.v1")
        class Floaty(MessageSchema):
            x = fields.Float()
            example: ClassVar[dict[str, Any]] = {}

    with pytest.raises(TypeError, match="Integer"):
        @register("partynet.test.lax.v1")
        class Lax(MessageSchema):
            x = fields.Integer()
            example: ClassVar[dict[str, Any]] = {}

    with pytest.raises(TypeError, match="RAISE"):
        @register("partynet.test.exclude.v1")
        class Exclude(MessageSchema):
            class Meta:
                unknown = EXCLUDE

            example: ClassVar[dict[str, Any]] = {}

    with pytest.raises(TypeError, match="example"):
        @register("partynet.test.noexample.v1")
        class NoExample(MessageSchema):
            x = Int()

    with pytest.raises(ValidationError):
        @register("partynet.test.badexample.v1")
        class BadExample(MessageSchema):
            x = Int(required=True)
            example: ClassVar[dict[str, Any]] = {"x": "1"}

    with pytest.raises(TypeError, match="Dict"):
        @register("partynet.test.listofdicts.v1")
        class ListOfDicts(MessageSchema):
            x = List(fields.Dict())
            example: ClassVar[dict[str, Any]] = {}

    with pytest.raises(ValueError, match="already registered"):
        @register("partynet.bus.ack.v1")
        class Impostor(MessageSchema):
            up_to = Int()
            example: ClassVar[dict[str, Any]] = {}

    assert not any(name.startswith("partynet.test.") for name in MESSAGE_TYPES)


# --- directives: hub -> node, and the read-back ---------------------------------------------------


def _directive(**changes: Any) -> dict[str, Any]:
    return {**MESSAGE_TYPES["partynet.directive.published.v1"].example, **changes}


def _receipt(**changes: Any) -> dict[str, Any]:
    return {**MESSAGE_TYPES["partynet.directive.receipt.v1"].example, **changes}


@pytest.mark.parametrize(("type_name", "data"), [
    ("partynet.directive.published.v1", _directive(kind="notice")),
    ("partynet.directive.published.v1", _directive(priority="low")),
    ("partynet.directive.published.v1", _directive(audience="members")),
    ("partynet.directive.published.v1", _directive(title="")),
    ("partynet.directive.published.v1", _directive(body="x" * 65_537)),
    ("partynet.directive.published.v1", _directive(tenants=[])),
    ("partynet.directive.published.v1", _directive(tenants=["dadukou", "dadukou"])),
    ("partynet.directive.published.v1", _directive(tenants=["Dadukou"])),
    ("partynet.directive.published.v1", _directive(tenants=["d"])),
    ("partynet.directive.published.v1", _directive(deadline="2025-03-31")),
    ("partynet.directive.published.v1", _directive(directive_id=0)),
    ("partynet.directive.published.v1",
     _directive(links=[{"title": "x", "url": "javascript:alert(1)"}])),
    ("partynet.directive.published.v1",
     _directive(links=[{"title": "x", "url": "https://e.org/a b"}])),
    ("partynet.directive.published.v1",
     _directive(links=[{"title": "", "url": "https://e.org/"}])),
    ("partynet.directive.published.v1",
     _directive(links=[{"title": "x", "url": "https://e.org/"}] * 21)),
    ("partynet.directive.withdrawn.v1", {"directive_id": 7, "withdrawn_at": "yesterday"}),
    ("partynet.directive.receipt.v1", _receipt(read=121)),
    ("partynet.directive.receipt.v1", _receipt(completed=88)),
    ("partynet.directive.receipt.v1", _receipt(targeted=-1, read=0, completed=0)),
])
def test_directive_rules(type_name: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_data(type_name, data)


def test_directive_edges_that_are_fine() -> None:
    assert validate_data("partynet.directive.published.v1", _directive(deadline=None, links=[]))
    full = _receipt(targeted=5, read=5, completed=5)
    assert validate_data("partynet.directive.receipt.v1", full) == full
    none = _receipt(targeted=0, read=0, completed=0)
    assert validate_data("partynet.directive.receipt.v1", none) == none
