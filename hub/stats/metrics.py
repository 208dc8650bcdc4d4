"""A rollup (the totals of a subtree as of a day) and the metrics rankings order by."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Rollup:
    """Totals of a subtree (or of several tenants' subtrees) as of a day."""

    prefix: str
    period: str
    #: Snapshots (tenants) that contributed, and the oldest and newest of their days.
    tenants: int
    oldest_period: str | None
    newest_period: str | None
    orgs: int
    orgs_by_kind: dict[str, int]
    members: dict[str, dict[str, int]]

    @property
    def party_members(self) -> int:
        stage = self.members["by_stage"]
        return stage["probationary"] + stage["full"]

    def metric(self, name: str) -> float | int | None:
        return METRICS[name](self)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _party(r: Rollup) -> int:
    return r.party_members


#: Ranking metrics: counts, and shares of party members (None when there are none).
METRICS: dict[str, Callable[[Rollup], float | int | None]] = {
    "party_members": _party,
    "full_members": lambda r: r.members["by_stage"]["full"],
    "probationary_members": lambda r: r.members["by_stage"]["probationary"],
    "pipeline": lambda r: sum(r.members["by_stage"][s]
                              for s in ("applicant", "activist", "candidate")),
    "orgs": lambda r: r.orgs,
    "full_share": lambda r: _share(r.members["by_stage"]["full"], _party(r)),
    "female_share": lambda r: _share(r.members["by_gender"]["female"], _party(r)),
    "age_30_or_under_share": lambda r: _share(r.members["by_age_band"]["<=30"], _party(r)),
    "over_60_share": lambda r: _share(r.members["by_age_band"]["61-70"]
                                      + r.members["by_age_band"][">70"], _party(r)),
    "higher_education_share": lambda r: _share(
        sum(r.members["by_education"][e] for e in ("associate", "bachelor", "master",
                                                  "doctorate")), _party(r)),
    "floating_share": lambda r: _share(r.members["by_status"]["floating"], _party(r)),
}
