"""Cursor (keyset) pagination: constant cost per page however deep, no COUNT over the subtree.

A page answers `{"items": [...], "next_cursor": "..."}`; the cursor is opaque to clients and also
given in a `Link: <...>; rel="next"` header.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import request

from shared.errors import InvalidInput
from shared.web.schema import Schema

DEFAULT_LIMIT = 50
MAX_CURSOR_INT = 2**31 - 1
MAX_LIMIT = 200


class CursorPageArgsSchema(Schema):
    limit = ma.fields.Integer(load_default=DEFAULT_LIMIT,
                              validate=ma.validate.Range(min=1, max=MAX_LIMIT))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: tuple[type, ...]) -> list[Any] | None:
    """Decode a cursor made by `encode_cursor`; anything else is a 422, never a 500."""
    if not cursor:
        return None
    invalid = InvalidInput("The cursor is not valid.", errors={"cursor": ["Invalid cursor."]})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(values, list) or len(values) != len(types):
        raise invalid
    if not all(type(v) is t for v, t in zip(values, types, strict=True)):
        raise invalid
    if any(type(v) is int and not 0 <= v <= MAX_CURSOR_INT for v in values):
        raise invalid  # beyond the id columns' range: a database error, not an empty page
    return values


def page_link(next_cursor: str | None) -> dict[str, str]:
    if not next_cursor:
        return {}
    args = request.args.to_dict()
    args["cursor"] = next_cursor
    return {"Link": f'<{request.base_url}?{urlencode(args)}>; rel="next"'}


def page(items: Sequence[Any], limit: int, key: Callable[[Any], list[Any]]
         ) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A page body with its `Link` header, as a flask-smorest view return value.

    A full page has a next cursor made of `key(last item)`: the values the query continues
    after (a short page is the last one).
    """
    next_cursor = encode_cursor(key(items[-1])) if len(items) == limit else None
    return {"items": items, "next_cursor": next_cursor}, 200, page_link(next_cursor)
