"""Compiled list dumping gives exactly what the schema's own dump gives."""

from __future__ import annotations

import datetime as dt
import enum
import random
import types

import pytest
from marshmallow import Schema, fields

from node.members.models import Gender, Stage, Status
from node.members.schemas import MemberPageSchema, MemberSummarySchema
from shared.web.dump import CompiledList, compile_dumper


class Colour(enum.Enum):
    red = "r"
    green = "g"


class RowSchema(Schema):
    id = fields.Integer()
    label = fields.String(data_key="title")
    masked = fields.String(attribute="secret_masked")
    by_name = fields.Enum(Colour)
    by_value = fields.Enum(Colour, by_value=True)
    on = fields.Date(allow_none=True)
    at = fields.DateTime()
    ok = fields.Boolean()


def _row(rng: random.Random) -> dict:
    return {"id": rng.randint(1, 10**6), "label": rng.choice(["支部", "a\x01b", ""]),
            "secret_masked": "5001********1234", "by_name": rng.choice(list(Colour)),
            "by_value": rng.choice(list(Colour)),
            "on": rng.choice([None, dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 9000))]),
            "at": dt.datetime(2026, 11, 21, 6, 30, rng.randint(0, 59), tzinfo=dt.UTC),
            "ok": rng.choice([True, False])}


@pytest.mark.parametrize("as_object", [False, True])
def test_compiled_dump_equals_schema_dump(as_object):
    rng = random.Random(5)
    rows = [_row(rng) for _ in range(200)]
    if as_object:
        rows = [types.SimpleNamespace(**row) for row in rows]
    dump = compile_dumper(RowSchema())
    assert [dump(row) for row in rows] == RowSchema(many=True).dump(rows)


def test_member_page_dumps_like_the_nested_schema():
    rows = [{"id": i, "member_number": f"500104{i:08d}", "org_id": 3, "org_code": "500104001",
             "name": "张三", "gender": "female", "birth_date": dt.date(1990, 1, i),
             "national_id_masked": "500104********0012", "stage": "full", "status": "active",
             "admitted_on": None if i % 2 else dt.date(2015, 7, 1)} for i in range(1, 20)]
    for row in rows:
        row.update(gender=Gender(row["gender"]), stage=Stage(row["stage"]),
                   status=Status(row["status"]))
    expected = MemberSummarySchema(many=True).dump(rows)
    assert MemberPageSchema().dump({"items": rows, "next_cursor": None}) == {
        "items": expected, "next_cursor": None}


def test_fields_it_cannot_reproduce_are_refused_at_definition():
    class Odd(Schema):
        amount = fields.Decimal()

    with pytest.raises(TypeError, match="amount: Decimal"):
        compile_dumper(Odd())

    class Formatted(Schema):
        on = fields.Date(format="%d/%m/%Y")

    with pytest.raises(TypeError, match="on: Date"):
        CompiledList(Formatted)
