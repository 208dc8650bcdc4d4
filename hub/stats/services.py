"""Receiving statistics snapshots and answering rollups, series, rankings and comparisons.

Which snapshots a question uses: "as of" a day D, each tenant counts with its latest complete
snapshot on or before D. Nodes publish on their own schedules and may miss a day; a rollup
still covers every tenant, and says how old its oldest snapshot is (`oldest_period`).

Who may ask: every question takes the asking principal (None: the public portal, which
publishes the whole network's counts). A region viewer asks only about codes under its region
prefix: an empty prefix means its region, anything else is out of reach (NotFound), so no
view can show it a figure from outside.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from federation.envelope import Envelope
from federation.keys import parse_time, utcnow
from federation.messages.stats import BREAKDOWNS, LIFE_BREAKDOWNS, ORG_KINDS
from hub.auth.principal import HubPrincipal
from hub.db import db
from hub.nodes.models import NodeTenant
from hub.stats.errors import SnapshotRefused
from hub.stats.metrics import Rollup
from hub.stats.models import (
    COUNT_COLUMNS,
    MEMBER_COLUMNS,
    OrgStat,
    SnapshotTotal,
    StatChunk,
    StatSnapshot,
)
from shared.codes import subtree_upper_bound
from shared.errors import NotFound

_stats = OrgStat.__table__
_totals = SnapshotTotal.__table__
_COLUMNS = {(b, k): name for b, k, name in COUNT_COLUMNS}

# --- receiving --------------------------------------------------------------------------------


def apply_snapshot_chunk(envelope: Envelope) -> StatSnapshot:
    """Store one chunk (handler of partynet.stats.snapshot.v1 and .v2, in the consumer's
    transaction; a v1 chunk has no `life`: its organizational life and dues count as 0).

    Idempotent: the same chunk again replaces itself; a newer publication of the same day
    (later `taken_at`) replaces the whole snapshot; an older one is ignored. Raises
    SnapshotRefused (-> quarantine, handler_failed) for an org outside the tenant's prefix.
    """
    data = envelope.data
    session = db.session()
    tenant = _sending_tenant(envelope)
    for org in data["orgs"]:
        for code in (org["code"], org["parent_code"]):
            if code is not None and not code.startswith(tenant.code_prefix):
                raise SnapshotRefused(f"org code {code} is not under {tenant.code_prefix}, the "
                                      f"prefix of {envelope.source}/{tenant.slug}")
    taken_at = parse_time(data["taken_at"])
    snapshot = session.scalar(sa.select(StatSnapshot).where(
        StatSnapshot.node_tenant_id == tenant.id, StatSnapshot.period == data["period"]))
    if snapshot is not None and snapshot.taken_at > taken_at:
        return snapshot  # a late chunk of an older publication: the newer one stands
    if snapshot is None:
        snapshot = StatSnapshot(node_tenant_id=tenant.id, period=data["period"],
                                taken_at=taken_at, chunks=data["chunks"])
        session.add(snapshot)
        session.flush()
    elif snapshot.taken_at < taken_at:
        _clear(snapshot.id)
        snapshot.taken_at, snapshot.chunks = taken_at, data["chunks"]
    elif snapshot.chunks != data["chunks"]:
        raise SnapshotRefused(f"chunk {data['chunk']} says {data['chunks']} chunks, the "
                              f"publication of {data['taken_at']} said {snapshot.chunks}")
    _clear(snapshot.id, data["chunk"])
    session.add(StatChunk(snapshot_id=snapshot.id, chunk=data["chunk"],
                          orgs=len(data["orgs"]), message_id=envelope.id))
    session.execute(sa.insert(_stats), [_row(snapshot.id, data["chunk"], org)
                                        for org in data["orgs"]])
    session.flush()
    snapshot.received_chunks = session.scalar(
        sa.select(sa.func.count()).select_from(StatChunk)
        .where(StatChunk.snapshot_id == snapshot.id)) or 0
    snapshot.updated_at = utcnow()
    snapshot.completed_at = (snapshot.completed_at or utcnow()
                             if snapshot.received_chunks == snapshot.chunks else None)
    _write_totals(snapshot)
    return snapshot


def _write_totals(snapshot: StatSnapshot) -> None:
    """(Re)write the snapshot's sums when it is complete; drop them while it is not."""
    session = db.session()
    session.execute(sa.delete(_totals).where(_totals.c.snapshot_id == snapshot.id))
    if snapshot.completed_at is None:
        return
    kinds = [sa.func.count(sa.case((_stats.c.kind == kind, 1))) for kind in ORG_KINDS]
    sums = (sa.select(_stats.c.snapshot_id,
                      *(sa.func.coalesce(sa.func.sum(_stats.c[c]), 0) for c in MEMBER_COLUMNS),
                      *kinds, sa.func.count())
            .where(_stats.c.snapshot_id == snapshot.id).group_by(_stats.c.snapshot_id))
    session.execute(sa.insert(_totals).from_select(
        ["snapshot_id", *MEMBER_COLUMNS, *(f"kind_{k}" for k in ORG_KINDS), "orgs"], sums))


def _sending_tenant(envelope: Envelope) -> NodeTenant:
    if envelope.tenant is None:
        raise SnapshotRefused("a statistics snapshot must name its tenant")
    tenant = db.session.scalar(sa.select(NodeTenant).where(
        NodeTenant.node_id == envelope.source, NodeTenant.slug == envelope.tenant))
    if tenant is None:  # authorize() refused this already; kept for direct callers
        raise SnapshotRefused(f"{envelope.source} does not host {envelope.tenant!r}")
    return tenant


def _clear(snapshot_id: int, chunk: int | None = None) -> None:
    session = db.session()
    rows = sa.delete(_stats).where(_stats.c.snapshot_id == snapshot_id)
    chunks = sa.delete(StatChunk).where(StatChunk.snapshot_id == snapshot_id)
    if chunk is not None:
        rows = rows.where(_stats.c.chunk == chunk)
        chunks = chunks.where(StatChunk.chunk == chunk)
    session.execute(rows)
    session.execute(chunks, execution_options={"synchronize_session": False})


def _row(snapshot_id: int, chunk: int, org: dict[str, Any]) -> dict[str, Any]:
    row = {"snapshot_id": snapshot_id, "chunk": chunk, "org_code": org["code"],
           "parent_code": org["parent_code"], "kind": org["kind"], "name": org["name"]}
    for breakdown, keys in BREAKDOWNS.items():
        for key in keys:
            row[_COLUMNS[breakdown, key]] = org["members"][breakdown][key]
    for kind in ORG_KINDS:
        row[_COLUMNS["orgs_by_kind", kind]] = org["orgs_by_kind"][kind]
    life = org.get("life") or {}
    for breakdown, keys in LIFE_BREAKDOWNS.items():
        for key in keys:
            row[_COLUMNS[breakdown, key]] = life.get(breakdown, {}).get(key, 0)
    return row


# --- who may ask ------------------------------------------------------------------------------


def reach(principal: HubPrincipal | None, prefix: str) -> str:
    """The prefix `principal` may ask about for `prefix`: a region viewer's empty prefix is its
    region; a prefix outside (or above) its region is NotFound. Everyone else: `prefix`."""
    if principal is None or principal.reads_everything:
        return prefix
    region = principal.region_prefix
    if region is None:
        raise NotFound("No statistics within reach.")
    if not prefix:
        return region
    if not prefix.startswith(region):
        raise NotFound(f"No statistics for {prefix}.")
    return prefix


# --- questions -------------------------------------------------------------------------------


def snapshots_as_of(period: str) -> sa.Select[tuple[int]]:
    """Ids of each tenant's latest complete snapshot on or before `period`."""
    latest = (sa.select(StatSnapshot.node_tenant_id, sa.func.max(StatSnapshot.period)
                        .label("period"))
              .where(StatSnapshot.completed_at.is_not(None), StatSnapshot.period <= period)
              .group_by(StatSnapshot.node_tenant_id).subquery())
    return (sa.select(StatSnapshot.id)
            .join(latest, sa.and_(StatSnapshot.node_tenant_id == latest.c.node_tenant_id,
                                  StatSnapshot.period == latest.c.period)))


def _in_subtree(prefix: str) -> sa.ColumnElement[bool]:
    if not prefix:
        return sa.true()
    return sa.and_(_stats.c.org_code >= prefix,
                   _stats.c.org_code < subtree_upper_bound(prefix))


def _sums() -> list[sa.ColumnElement[Any]]:
    sums = [sa.func.coalesce(sa.func.sum(_stats.c[name]), 0).label(name)
            for b, _k, name in COUNT_COLUMNS if b != "orgs_by_kind"]
    kinds = [sa.func.count(sa.case((_stats.c.kind == kind, 1))).label(f"kind_{kind}")
             for kind in ORG_KINDS]
    return [*sums, *kinds, sa.func.count().label("orgs"),
            sa.func.count(sa.distinct(_stats.c.snapshot_id)).label("tenants"),
            sa.func.min(StatSnapshot.period).label("oldest"),
            sa.func.max(StatSnapshot.period).label("newest")]


def _rollup_from(prefix: str, period: str, row: Any) -> Rollup:
    mapping = row._mapping if row is not None else {}
    members = {b: {k: int(mapping.get(_COLUMNS[b, k]) or 0) for k in keys}
               for b, keys in BREAKDOWNS.items()}
    life = {b: {k: int(mapping.get(_COLUMNS[b, k]) or 0) for k in keys}
            for b, keys in LIFE_BREAKDOWNS.items()}
    return Rollup(prefix=prefix, period=period, tenants=int(mapping.get("tenants") or 0),
                  oldest_period=mapping.get("oldest"), newest_period=mapping.get("newest"),
                  orgs=int(mapping.get("orgs") or 0),
                  orgs_by_kind={k: int(mapping.get(f"kind_{k}") or 0) for k in ORG_KINDS},
                  members=members, life=life)


def _base(period: str) -> sa.Select[Any]:
    return (sa.select(*_sums()).select_from(_stats)
            .join(StatSnapshot, StatSnapshot.id == _stats.c.snapshot_id)
            .where(_stats.c.snapshot_id.in_(snapshots_as_of(period))))


def rollup(prefix: str, period: str, *, principal: HubPrincipal | None = None) -> Rollup:
    """Every organization whose code starts with `prefix` ("" = the whole network)."""
    prefix = reach(principal, prefix)
    if _inside_a_tenant(prefix):
        row = db.session.execute(_base(period).where(_in_subtree(prefix))).one_or_none()
    else:
        row = db.session.execute(_totals_base(period).where(_tenants_under(prefix))
                                 ).one_or_none()
    return _rollup_from(prefix, period, row)


def compare(prefixes: Sequence[str], period: str, *,
            principal: HubPrincipal | None = None) -> list[Rollup]:
    """Rollups of several prefixes side by side (each must be within reach)."""
    return [rollup(prefix, period, principal=principal) for prefix in prefixes]


def series(prefix: str, *, start: str, end: str, after: str | None = None,
           limit: int = 50, principal: HubPrincipal | None = None) -> list[Rollup]:
    """The rollup of `prefix` as of each day, from `start` to `end`, on which some tenant of
    the subtree has a complete snapshot (the days on which the answer can change)."""
    prefix = reach(principal, prefix)
    return [rollup(prefix, period) for period in _days([prefix], start, end, after, limit)]


def _days(prefixes: Sequence[str], start: str, end: str, after: str | None,
          limit: int) -> list[str]:
    """The days from `start` to `end` on which a tenant overlapping one of `prefixes` has a
    complete snapshot, oldest first."""
    overlapping = (sa.select(StatSnapshot.period).distinct()
                   .join(NodeTenant, NodeTenant.id == StatSnapshot.node_tenant_id)
                   .where(StatSnapshot.completed_at.is_not(None),
                          StatSnapshot.period >= start, StatSnapshot.period <= end)
                   .order_by(StatSnapshot.period).limit(limit))
    if all(prefixes):
        # Tenants inside a prefix, or whose prefix contains it.
        overlapping = overlapping.where(sa.or_(*(
            sa.or_(sa.and_(NodeTenant.code_prefix >= prefix,
                           NodeTenant.code_prefix < subtree_upper_bound(prefix)),
                   sa.literal(prefix).startswith(NodeTenant.code_prefix))
            for prefix in prefixes)))
    if after is not None:
        overlapping = overlapping.where(StatSnapshot.period > after)
    return list(db.session.scalars(overlapping))


@dataclasses.dataclass(frozen=True)
class Child:
    """One direct child of a prefix in a ranking: an organization, a tenant or a region."""

    code: str
    name: str
    level: str
    rollup: Rollup
    value: float | int | None


#: GB/T 2260 levels above the county: province (2 digits), city (4), county (6).
_REGION_LENGTHS = (2, 4, 6)


def children(prefix: str, period: str, *, principal: HubPrincipal | None = None
             ) -> list[Child]:
    """The direct children of `prefix`, each with its subtree's rollup (one grouped query).

    - `prefix` is an organization: its child organizations;
    - shorter than a county code (6 digits): the next administrative level (provinces,
      cities, counties), labelled by code;
    - otherwise: the tenants whose prefix lies under it.
    """
    prefix = reach(principal, prefix)
    org = db.session.execute(
        sa.select(_stats.c.org_code, _stats.c.name).where(
            _stats.c.snapshot_id.in_(snapshots_as_of(period)), _stats.c.org_code == prefix)
    ).first() if prefix else None
    if org is not None:
        return _grouped(prefix, period, sa.func.substr(_stats.c.org_code, 1, len(prefix) + 3),
                        "org", exclude_self=True)
    if len(prefix) < 6:
        length = next(n for n in _REGION_LENGTHS if n > len(prefix))
        return _grouped_totals(prefix, period, sa.func.substr(NodeTenant.code_prefix, 1, length),
                               "region")
    if not _inside_a_tenant(prefix):
        return _grouped_totals(prefix, period, NodeTenant.code_prefix, "tenant")
    return _grouped(prefix, period, NodeTenant.code_prefix, "tenant")


def _grouped(prefix: str, period: str, key: Any, level: str, *,
             exclude_self: bool = False) -> list[Child]:
    query = (_base(period).add_columns(key.label("child_key"))
             .join(NodeTenant, NodeTenant.id == StatSnapshot.node_tenant_id)
             .where(_in_subtree(prefix)).group_by(key))
    if exclude_self:
        query = query.where(_stats.c.org_code != prefix)
    rows = db.session.execute(query).all()
    names = _names(level, [row.child_key for row in rows], period)
    return [Child(code=row.child_key, name=names.get(row.child_key, row.child_key), level=level,
                  rollup=_rollup_from(row.child_key, period, row), value=None)
            for row in rows]


# Above the tenants, a rollup adds the snapshots' totals (one row per tenant, not per org):
# a prefix either contains a tenant's whole tree or lies inside exactly one tenant (root
# prefixes are prefix-free), and only the latter needs the organizations' rows.


def _inside_a_tenant(prefix: str) -> bool:
    """Whether `prefix` is strictly inside a tenant's tree (its rollup needs org rows)."""
    ancestors = [prefix[:n] for n in range(6, len(prefix))]
    return bool(ancestors) and db.session.scalar(
        sa.select(sa.func.count()).select_from(NodeTenant)
        .where(NodeTenant.code_prefix.in_(ancestors))) > 0


def _tenants_under(prefix: str) -> sa.ColumnElement[bool]:
    if not prefix:
        return sa.true()
    return sa.and_(NodeTenant.code_prefix >= prefix,
                   NodeTenant.code_prefix < subtree_upper_bound(prefix))


def _totals_base(period: str) -> sa.Select[Any]:
    """`_base` over the snapshots' totals: the same labels, so `_rollup_from` reads either."""
    total = _totals.c
    columns = [*(sa.func.coalesce(sa.func.sum(total[c]), 0).label(c) for c in MEMBER_COLUMNS),
               *(sa.func.coalesce(sa.func.sum(total[f"kind_{k}"]), 0).label(f"kind_{k}")
                 for k in ORG_KINDS),
               sa.func.coalesce(sa.func.sum(total.orgs), 0).label("orgs"),
               sa.func.count().label("tenants"),
               sa.func.min(StatSnapshot.period).label("oldest"),
               sa.func.max(StatSnapshot.period).label("newest")]
    return (sa.select(*columns).select_from(_totals)
            .join(StatSnapshot, StatSnapshot.id == total.snapshot_id)
            .join(NodeTenant, NodeTenant.id == StatSnapshot.node_tenant_id)
            .where(total.snapshot_id.in_(snapshots_as_of(period))))


def _grouped_totals(prefix: str, period: str, key: Any, level: str) -> list[Child]:
    query = (_totals_base(period).add_columns(key.label("child_key"))
             .where(_tenants_under(prefix)).group_by(key))
    rows = db.session.execute(query).all()
    names = _names(level, [row.child_key for row in rows], period)
    return [Child(code=row.child_key, name=names.get(row.child_key, row.child_key), level=level,
                  rollup=_rollup_from(row.child_key, period, row), value=None)
            for row in rows]


def _names(level: str, codes: list[str], period: str) -> dict[str, str]:
    if not codes or level == "region":
        return {}
    if level == "tenant":
        query = (sa.select(NodeTenant.code_prefix, NodeTenant.name)
                 .where(NodeTenant.code_prefix.in_(codes)))
    else:
        query = (sa.select(_stats.c.org_code, _stats.c.name)
                 .where(_stats.c.snapshot_id.in_(snapshots_as_of(period)),
                        _stats.c.org_code.in_(codes)))
    return {code: name for code, name in db.session.execute(query)}


def ranking(prefix: str, period: str, metric: str, *, descending: bool = True,
            principal: HubPrincipal | None = None) -> list[Child]:
    """The direct children of `prefix` ordered by `metric` (ties and missing values: by code;
    a share with no party members to divide by comes last)."""
    ranked = [dataclasses.replace(c, value=c.rollup.metric(metric))
              for c in children(prefix, period, principal=principal)]
    present = [c for c in ranked if c.value is not None]
    present.sort(key=lambda c: c.code)
    present.sort(key=lambda c: c.value, reverse=descending)  # type: ignore[arg-type,return-value]
    return present + sorted((c for c in ranked if c.value is None), key=lambda c: c.code)


@dataclasses.dataclass(frozen=True)
class Trend:
    """One prefix's metric on each day of a shared list of days (None: nothing to divide)."""

    code: str
    name: str
    values: list[float | int | None]


@dataclasses.dataclass(frozen=True)
class Trends:
    days: list[str]
    lines: list[Trend]


def trends(prefixes: Sequence[str], metric: str, *, start: str, end: str, points: int = 30,
           principal: HubPrincipal | None = None) -> Trends:
    """The metric of each prefix as of the days from `start` to `end` on which any of them
    has new figures: lines on the same days, so they can be drawn on one chart. At most
    `points` days, spread evenly from the first to the last (one rollup per day and code)."""
    codes = [reach(principal, prefix) for prefix in prefixes]
    days = _spread(_days(codes, start, end, None, 100_000), points)
    names = names_of(codes, end)
    return Trends(days=days, lines=[
        Trend(code=code, name=names[code],
              values=[rollup(code, day).metric(metric) for day in days]) for code in codes])


def _spread(days: list[str], points: int) -> list[str]:
    """`points` of `days`, evenly spaced, keeping the first and the last."""
    if len(days) <= points:
        return days
    if points < 2:
        return days[-1:]
    step = (len(days) - 1) / (points - 1)
    return [days[round(i * step)] for i in range(points)]


def comparison(prefixes: Sequence[str], period: str, metric: str, *,
               principal: HubPrincipal | None = None) -> list[Child]:
    """Several prefixes side by side as of `period`, in the order asked, each with its rollup
    and the metric's value (regions, tenants or organizations, named like in rankings)."""
    codes = [reach(principal, prefix) for prefix in prefixes]
    names = names_of(codes, period)
    compared = []
    for code in codes:
        totals = rollup(code, period)
        compared.append(Child(code=code, name=names[code], level=_level_of(code, names),
                              rollup=totals, value=totals.metric(metric)))
    return compared


def names_of(codes: Sequence[str], period: str) -> dict[str, str]:
    """A name for each code: the organization's, else the tenant's, else the code itself
    (regions have no names in the snapshots)."""
    found = {code: code for code in codes}
    found.update(_names("tenant", [c for c in codes if c], period))
    found.update(_names("org", [c for c in codes if c], period))
    return found


def _level_of(code: str, names: dict[str, str]) -> str:
    if names.get(code, code) == code:
        return "region"
    tenant = db.session.scalar(sa.select(NodeTenant.id).where(NodeTenant.code_prefix == code)
                               .limit(1))
    return "tenant" if tenant is not None else "org"


def latest_period() -> str:
    """The newest day with a complete snapshot (today when there is none yet)."""
    newest = db.session.scalar(sa.select(sa.func.max(StatSnapshot.period))
                               .where(StatSnapshot.completed_at.is_not(None)))
    return newest or dt.date.today().isoformat()
