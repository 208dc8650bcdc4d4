"""View-shaped answers for the portal pages, from the feed, node and statistics services."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from federation.messages.stats import STAGES
from hub.auth.principal import HubPrincipal
from hub.feed.models import FeedItem
from hub.nodes import services as nodes
from hub.nodes.models import Node, NodeTenant
from hub.stats import services as stats
from hub.stats.metrics import Rollup
from shared.errors import NotFound

#: The statistics page's time series covers this many days before the day shown by default.
SERIES_DAYS = 180
#: At most this many children are charted in a ranking (the export has them all).
RANKING_SHOWN = 20
#: At most this many codes are compared with the one shown.
COMPARE_MAX = 5


@dataclasses.dataclass(frozen=True)
class Origin:
    node: Node | None
    tenant: NodeTenant | None


def item_origin(item: FeedItem) -> Origin:
    """Where an item comes from: its node and tenant in the registry (None if unknown)."""
    try:
        node = nodes.get_node(item.node_id)
    except NotFound:
        return Origin(node=None, tenant=None)
    tenant = next((t for t in nodes.node_tenants(node.id) if t.slug == item.tenant), None)
    return Origin(node=node, tenant=tenant)


@dataclasses.dataclass(frozen=True)
class DirectoryEntry:
    node: Node
    tenants: Sequence[NodeTenant]


def directory() -> list[DirectoryEntry]:
    """Every enrolled node with its tenants (no keys, no tokens)."""
    return [DirectoryEntry(node=node, tenants=nodes.node_tenants(node.id))
            for node in nodes.list_nodes()]


@dataclasses.dataclass(frozen=True)
class StatsPage:
    prefix: str
    period: str
    metric: str
    start: str
    end: str
    rollup: Rollup
    #: The direct children, ranked (all of them; the page charts the first RANKING_SHOWN).
    ranked: list[stats.Child]
    #: The code shown first, then the codes asked to compare with it.
    compared: list[stats.Child]
    #: The metric over time, one line per code (the one shown, then the compared ones).
    trends: stats.Trends

    @property
    def stages(self) -> list[tuple[str, int]]:
        return [(stage, self.rollup.members["by_stage"][stage]) for stage in STAGES]

    @property
    def ranking(self) -> list[stats.Child]:
        return self.ranked[:RANKING_SHOWN]

    @property
    def ranking_total(self) -> int:
        return len(self.ranked)

    @property
    def compare_codes(self) -> list[str]:
        return [child.code for child in self.compared[1:]]


def stats_page(prefix: str, *, period: dt.date | None, metric: str, start: dt.date | None,
               end: dt.date | None, compare: Sequence[str] = (),
               principal: HubPrincipal | None = None) -> StatsPage:
    """The rollup by stage, the ranking of the direct children by `metric`, the comparison
    with the `compare` codes and the trend of `metric` from `start` to `end` (default: the
    last SERIES_DAYS days up to the day shown). For a region viewer (`principal`), every
    code must be under its region; no code (empty `prefix`) is its region."""
    prefix = stats.reach(principal, prefix)
    day = period.isoformat() if period else stats.latest_period()
    last = end.isoformat() if end else day
    first = (start.isoformat() if start else
             (dt.date.fromisoformat(last) - dt.timedelta(days=SERIES_DAYS)).isoformat())
    others = [code for code in dict.fromkeys(compare) if code != prefix][:COMPARE_MAX]
    ranked = stats.ranking(prefix, day, metric, principal=principal)
    codes = [prefix, *others]
    return StatsPage(prefix=prefix, period=day, metric=metric, start=first, end=last,
                     rollup=stats.rollup(prefix, day, principal=principal),
                     ranked=ranked,
                     compared=stats.comparison(codes, day, metric, principal=principal),
                     trends=stats.trends(codes, metric, start=first, end=last,
                                         principal=principal))
