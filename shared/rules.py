"""Rule warnings: what the party's rules expect but the software only reports (real data is
messy), as a code with its figures, so pages can say it in the reader's language; `message` is
the English text the API returns."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class RuleWarning:
    code: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
