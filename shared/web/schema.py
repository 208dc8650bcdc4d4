"""The project's marshmallow base schema: input rules every API schema shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma


def _nul_paths(data: Any, path: str = "") -> list[str]:
    if isinstance(data, str):
        return [path] if "\x00" in data else []
    if isinstance(data, Mapping):
        return [p for k, v in data.items() for p in _nul_paths(v, path or str(k))]
    if isinstance(data, list):
        return [p for v in data for p in _nul_paths(v, path)]
    return []


class Schema(ma.Schema):
    """Refuses NUL characters anywhere in the input: no database column can store them."""

    @ma.pre_load(pass_collection=True)
    def _refuse_nul(self, data: Any, **_kwargs: Any) -> Any:
        fields = _nul_paths(data)
        if fields:
            raise ma.ValidationError({f or "_schema": ["NUL characters are not allowed."]
                                      for f in fields})
        return data
