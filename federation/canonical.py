"""Canonical JSON, as Matrix defines it: the byte form that federation signatures cover.

Two parties that hold the same JSON value must produce the same bytes, or a signature made by one
cannot be checked by the other. The rules (Matrix spec, appendix "Canonical JSON"):

- object keys sorted by Unicode code point, no insignificant whitespace (`,` and `:` only);
- UTF-8 output; characters outside ASCII are written as themselves, never as `\\uXXXX`;
- only objects, arrays, strings, integers, `true`, `false` and `null`: no floats at all, and
  integers within ±(2**53 − 1) so that every JSON implementation reads them exactly.

String escaping follows the grammar in the Matrix appendix, which is exactly what the standard
library emits with ``ensure_ascii=False``: `"` and `\\` are escaped, the control characters
U+0008, U+0009, U+000A, U+000C and U+000D use their short forms (`\\b \\t \\n \\f \\r`), every
other character below U+0020 becomes `\\u00XX` with lowercase hex, and nothing else is escaped
(not `/`, not U+007F, not U+2028). A string holding a lone surrogate has no UTF-8 form and is
rejected.

No Unicode normalisation is applied: "é" precomposed (NFC) and decomposed (NFD) are different
strings with different bytes and different signatures, as in Matrix. Senders sign what they send.

`decode_strict` is the matching reader for untrusted bytes. It refuses anything that has no
canonical form (floats, exponents, NaN, huge integers, duplicate keys, invalid UTF-8, lone
surrogates) but accepts any key order and whitespace: receivers re-encode before verifying, so
the layout of the received bytes does not matter, only the value.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

__all__ = [
    "MAX_SAFE_INTEGER",
    "CanonicalJsonError",
    "NotJson",
    "decode_strict",
    "encode_canonical",
    "encode_decoded",
]

#: The largest integer every JSON reader (IEEE-754 doubles included) represents exactly.
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJsonError(ValueError):
    """The value or bytes have no canonical JSON form (floats, huge integers, duplicate keys...)."""


class NotJson(CanonicalJsonError):
    """The bytes are not JSON at all, or not the shape asked for (e.g. not an object)."""


class _Bad(Exception):
    """Internal: carries the problem up the recursion so the JSON path is built only on error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)


def encode_canonical(value: Any) -> bytes:
    """The canonical JSON bytes of `value`; `CanonicalJsonError` names the JSON path at fault.

    Types are checked exactly: subclasses such as enums must be converted (`.value`) first.
    """
    try:
        _check(value)
    except _Bad as bad:
        raise CanonicalJsonError(f"{bad.message} at {_format_path(bad.path)}") from None
    except RecursionError:
        raise CanonicalJsonError("value nested too deeply (or circular)") from None
    return encode_decoded(value)


def encode_decoded(value: Any) -> bytes:
    """Canonical bytes of a value already known to be clean (e.g. what `decode_strict` returned).

    Skips the type walk that `encode_canonical` does, which is most of its cost.
    """
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        path = _find_surrogate(value, [])
        raise CanonicalJsonError(
            f"string with a lone surrogate (no UTF-8 form) at {_format_path(path or [])}"
        ) from None


def _check(value: Any) -> None:
    # Exact type dispatch is both the fastest check and the strictest: float, tuple, set, bytes,
    # Decimal and friends all fall through to the error.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return
        raise _Bad(f"integer {value} is outside ±(2**53 − 1)")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _Bad(f"object key {key!r} is a {type(key).__name__}, not a string")
            try:
                _check(item)
            except _Bad as bad:
                bad.path.append(_key_segment(key))
                raise
        return
    if kind is list:
        for index, item in enumerate(value):
            try:
                _check(item)
            except _Bad as bad:
                bad.path.append(f"[{index}]")
                raise
        return
    if isinstance(value, float):
        raise _Bad(f"float {value!r} is not allowed (use an integer or a string)")
    raise _Bad(f"{kind.__name__} is not a JSON type (dict, list, str, int, bool or None)")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key_segment(key: str) -> str:
    """`.name` for identifier-like keys, `["any key"]` otherwise (JSONPath-ish)."""
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    return f"[{json.dumps(key, ensure_ascii=_has_surrogate(key))}]"


def _format_path(reversed_segments: list[str]) -> str:
    return "$" + "".join(reversed(reversed_segments))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _find_surrogate(value: Any, path: list[str]) -> list[str] | None:
    """The (reversed) path of the first string, key or value, holding a lone surrogate."""
    if isinstance(value, str):
        return path if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _has_surrogate(key):
                return [_key_segment(key), *path]
            found = _find_surrogate(item, [_key_segment(key), *path])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_surrogate(item, [f"[{index}]", *path])
            if found is not None:
                return found
    return None


# ---------------------------------------------------------------------------------------------
# Strict decoding of untrusted bytes
# ---------------------------------------------------------------------------------------------


def _reject_float(text: str) -> NoReturn:
    raise CanonicalJsonError(f"number {text} has a fraction or an exponent: floats are not allowed")


def _reject_constant(text: str) -> NoReturn:
    raise CanonicalJsonError(f"{text} is not allowed")


def _parse_int(text: str) -> int:
    if len(text) > 17:  # 2**53 has 16 digits; a sign makes 17: anything longer is out of range
        raise CanonicalJsonError(f"integer {text[:20]}… is outside ±(2**53 − 1)")
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise CanonicalJsonError(f"integer {text} is outside ±(2**53 − 1)")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJsonError(f"duplicate object key {key!r}")
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object,
    parse_float=_reject_float,
    parse_int=_parse_int,
    parse_constant=_reject_constant,
)

# A `\uD800`-`\uDFFF` escape may be half of a valid pair or a lone surrogate: only then do we pay
# for a walk over the decoded value. Raw surrogates cannot appear: strict UTF-8 refuses them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_strict(raw: bytes, *, require_object: bool = True) -> Any:
    """Parse untrusted bytes that must have a canonical JSON form (any key order or spacing).

    Raises `NotJson` (a `CanonicalJsonError`) for bytes that are not JSON or not an object when
    `require_object`, and `CanonicalJsonError` for JSON that has no canonical form.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"decode_strict takes bytes, not {type(raw).__name__}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise CanonicalJsonError(f"not valid UTF-8: {error.reason} at byte {error.start}") from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise NotJson(f"not JSON: {error.msg} at {where}") from None
    except RecursionError:
        raise NotJson("not JSON we accept: nested too deeply") from None
    except ValueError as error:
        if isinstance(error, CanonicalJsonError):
            raise
        raise CanonicalJsonError(str(error)) from None  # e.g. int() digit limits
    if _SURROGATE_ESCAPE.search(text) is not None:
        path = _find_surrogate(value, [])
        if path is not None:
            raise CanonicalJsonError(f"string with a lone surrogate at {_format_path(path)}")
    if require_object and type(value) is not dict:
        raise NotJson(f"expected a JSON object at the top level, got {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {str: "a string", int: "a number", list: "an array"}.get(type(value), "a value")
