"""Settings read from the environment with declared types and validation at start-up.

Each app declares a frozen dataclass; `from_env` reads `<PREFIX><FIELD>` for every field,
converts it by the field's type and fails fast with every problem listed at once. Nothing reads
the environment at import time, so tests pass settings explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, Self


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


def _convert(name: str, raw: str, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(typ) if a is not type(None)]
        if raw == "":
            return None
        return _convert(name, raw, inner[0])
    if typ is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected a boolean, got {raw!r}")
    if typ is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name}: expected an integer, got {raw!r}") from None
    if typ is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {raw!r}") from None
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


class EnvSettings:
    """Mixin for frozen dataclasses; subclasses implement `validate()` returning problems."""

    ENV_PREFIX: typing.ClassVar[str] = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = cls.ENV_PREFIX + field.name.upper()
            if field.name in overrides:
                values[field.name] = overrides[field.name]
            elif key in environ:
                try:
                    values[field.name] = _convert(key, environ[key], hints[field.name])
                except ValueError as exc:
                    problems.append(str(exc))
        if problems:
            raise SettingsError(problems)
        try:
            settings = cls(**values)
        except TypeError as exc:
            raise SettingsError([str(exc)]) from None
        settings.check()
        return settings

    def validate(self) -> list[str]:
        return []

    def check(self) -> None:
        problems = self.validate()
        if problems:
            raise SettingsError(problems)
