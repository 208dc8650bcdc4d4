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
    #: Organizational life and dues of the year to the snapshot date (v2 snapshots; a tenant
    #: still sending v1 adds zeros): `federation.messages.stats.LIFE_BREAKDOWNS`.
    life: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

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


def _life(r: Rollup, breakdown: str, key: str | None = None) -> int:
    counts = r.life.get(breakdown, {})
    return counts.get(key, 0) if key is not None else sum(counts.values())


def compliance_rate(r: Rollup) -> float | None:
    """Cadence windows met of those due (三会一课 and the theme day kept on time)."""
    return _share(_life(r, "meetings_met"), _life(r, "meetings_due"))


def attendance_rate(r: Rollup) -> float | None:
    return _share(_life(r, "attendance", "present"), _life(r, "attendance", "invited"))


def dues_paid_up_share(r: Rollup) -> float | None:
    """Members with every month paid (or exempt) of those with dues lines."""
    return _share(_life(r, "dues", "paid_up"), _life(r, "dues", "assessed"))


def dues_collection_rate(r: Rollup) -> float | None:
    """Amount paid of the amount due."""
    return _share(_life(r, "dues", "paid_fen"), _life(r, "dues", "due_fen"))


def is_rate(name: str) -> bool:
    """A share or rate between 0 and 1 (shown as a percentage), not a count."""
    return name.endswith(("_share", "_rate"))


#: Ranking metrics: counts, shares of party members (None when there are none), and the
#: rates of organizational life and dues (None when nothing was due).
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
    "meetings_held": lambda r: _life(r, "meetings_held"),
    "compliance_rate": compliance_rate,
    "attendance_rate": attendance_rate,
    "dues_in_arrears": lambda r: _life(r, "dues", "in_arrears"),
    "dues_paid_up_share": dues_paid_up_share,
    "dues_collection_rate": dues_collection_rate,
}
