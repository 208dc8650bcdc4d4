"""Canonical JSON: Matrix's published examples, the rules behind them, and strict decoding."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from federation.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJsonError,
    NotJson,
    decode_strict,
    encode_canonical,
    encode_decoded,
)

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "matrix_canonical_json.json").read_text("utf-8")
)
ALL_VECTORS = VECTORS["vectors"] + VECTORS["rule_vectors"]


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


@pytest.mark.parametrize("vector", ALL_VECTORS, ids=_ids(ALL_VECTORS))
def test_vector(vector: dict[str, Any]) -> None:
    raw = vector["input"].encode("utf-8")
    if vector["canonical"] is None:
        with pytest.raises(CanonicalJsonError):
            decode_strict(raw)
    else:
        assert encode_canonical(decode_strict(raw)) == vector["canonical"].encode("utf-8")


def test_vectors_cover_the_matrix_examples() -> None:
    names = _ids(VECTORS["vectors"])
    assert len(names) == 10
    assert "nested auth object" in names


def test_matrix_exponent_example_value_encodes_like_matrix() -> None:
    """We refuse `1e10` on the wire, but the value it denotes encodes as Matrix says."""
    [vector] = [v for v in VECTORS["vectors"] if "matrix_canonical" in v]
    assert encode_canonical({"a": 0, "b": 10**10}) == vector["matrix_canonical"].encode()


def test_non_ascii_is_raw_utf8() -> None:
    assert encode_canonical({"a": "日本語"}) == '{"a":"日本語"}'.encode()
    assert b"\\u" not in encode_canonical({"a": "日"})


def test_control_character_escapes_match_the_matrix_grammar() -> None:
    value = {"s": "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028'}
    expected = (
        b'{"s":"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019"
        b'\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/\x7f\xe2\x80\xa8"}'
    )
    assert encode_canonical(value) == expected
    assert decode_strict(expected) == value


def test_integers_at_the_edges() -> None:
    assert encode_canonical({"a": MAX_SAFE_INTEGER}) == b'{"a":9007199254740991}'
    assert encode_canonical({"a": -MAX_SAFE_INTEGER}) == b'{"a":-9007199254740991}'
    for bad in (2**53, -(2**53), 10**30):
        with pytest.raises(CanonicalJsonError, match=r"outside .* at \$\.a"):
            encode_canonical({"a": bad})


def test_huge_integer_literal_is_non_canonical_not_a_crash() -> None:
    with pytest.raises(CanonicalJsonError) as caught:
        decode_strict(b'{"a":' + b"9" * 5000 + b"}")
    assert not isinstance(caught.value, NotJson)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": 1.5}, "$.a"),
        ({"a": 1.0}, "$.a"),
        ({"a": float("nan")}, "$.a"),
        ({"a": float("inf")}, "$.a"),
        ({"a": [1, {"b": 0.5}]}, "$.a[1].b"),
        ({"odd key": {"x": (1, 2)}}, '$["odd key"].x'),
        ({"a": {1: "x"}}, "$.a"),
        ({"a": {None: "x"}}, "$.a"),
        ({"a": b"bytes"}, "$.a"),
        ({"a": {1, 2}}, "$.a"),
        ({"a": ["\ud800"]}, "$.a[0]"),
        ({"k": {"\udfff": 1}}, '$.k["\\udfff"]'),
    ],
)
def test_encode_rejects_with_json_path(value: Any, path: str) -> None:
    with pytest.raises(CanonicalJsonError) as caught:
        encode_canonical(value)
    assert str(caught.value).endswith(f"at {path}")


def test_encode_rejects_non_json_top_level_and_cycles() -> None:
    with pytest.raises(CanonicalJsonError, match=r"at \$$"):
        encode_canonical(1.5)
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(CanonicalJsonError):
        encode_canonical(loop)


def test_bool_and_none_are_fine_and_not_integers() -> None:
    assert encode_canonical({"t": True, "f": False, "n": None}) == b'{"f":false,"n":null,"t":true}'
    assert encode_canonical([True, 1]) == b"[true,1]"


def test_unicode_is_not_normalised() -> None:
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    assert encode_canonical({"a": nfc}) != encode_canonical({"a": nfd})
    assert decode_strict(encode_canonical({"a": nfd})) == {"a": nfd}
    # Keys too: two keys that normalise alike are two distinct keys, not duplicates.
    both = decode_strict(json.dumps({nfc: 1, nfd: 2}, ensure_ascii=False).encode())
    assert len(both) == 2


def test_any_key_order_and_whitespace_is_accepted_on_input() -> None:
    raw = b' \n{ "b" : [ 1 , 2 ] ,\t"a" : { "d" : null , "c" : true } }\r\n'
    assert encode_canonical(decode_strict(raw)) == b'{"a":{"c":true,"d":null},"b":[1,2]}'


def test_escaped_input_is_accepted_and_canonicalised() -> None:
    raw = b'{"\\u0061":"\\u00E9\\/\\u001F"}'
    assert encode_canonical(decode_strict(raw)) == '{"a":"é/\\u001f"}'.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":"\xff"}',  # not UTF-8 at all
        b'{"a":"\xc0\xaf"}',  # overlong encoding of "/"
        b'{"a":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8
        b'{"a":"caf\xe9"}',  # Latin-1
        '{"a":1}'.encode("utf-16"),  # json.loads would sniff UTF-16; we do not
    ],
)
def test_invalid_utf8_is_non_canonical(raw: bytes) -> None:
    with pytest.raises(CanonicalJsonError) as caught:
        decode_strict(raw)
    assert not isinstance(caught.value, NotJson)


def test_lone_surrogate_escapes_are_rejected_but_pairs_are_fine() -> None:
    assert decode_strict(b'{"a":"\\ud83d\\ude00"}') == {"a": "😀"}
    for raw in (b'{"a":"\\ud83d"}', b'{"a":"x\\ude00"}', b'{"a":["\\ude00\\ud83d"]}',
                b'{"\\uD800":1}'):
        with pytest.raises(CanonicalJsonError, match="surrogate"):
            decode_strict(raw)
    # An escaped backslash followed by "ud800" is just text.
    assert decode_strict(b'{"a":"\\\\ud800"}') == {"a": "\\ud800"}


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"a":1} x', b"{'a':1}", b'{"a":01}', b'{"a":+1}', b'{"a":.5}', b"\xef\xbb\xbf{}",
     b'{"a":[1,]}', b'{"a":"\x01"}'],
)
def test_not_json_is_not_json(raw: bytes) -> None:
    with pytest.raises(NotJson):
        decode_strict(raw)


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"1", b"null", b"true"])
def test_top_level_must_be_an_object_unless_asked_otherwise(raw: bytes) -> None:
    with pytest.raises(NotJson, match="object"):
        decode_strict(raw)
    assert decode_strict(raw, require_object=False) == json.loads(raw)


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(CanonicalJsonError):
        decode_strict(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_decode_strict_wants_bytes() -> None:
    with pytest.raises(TypeError):
        decode_strict('{"a":1}')  # type: ignore[arg-type]


def test_encode_decoded_matches_encode_canonical() -> None:
    value = decode_strict('{"z":[1,"日",{"b":null,"a":false}],"a":-5}'.encode())
    assert encode_decoded(value) == encode_canonical(value)


def test_round_trip_is_a_fixed_point() -> None:
    value = {"b": [1, -2, {"é": "\n"}], "a": {"": None, "x": True}}
    once = encode_canonical(value)
    assert encode_canonical(decode_strict(once)) == once
