"""Statistics received from the nodes: one snapshot per (tenant, day), one row per organization.

`org_stats` has one integer column per category of the contract (`federation.messages.stats`),
so a rollup of any subtree is one `SUM(...)` over an index range of codes, on SQLite and on
PostgreSQL alike; no JSON is parsed at query time. `stat_snapshot_totals` holds each complete
snapshot's sums, so a rollup above the tenants (the network, a province, a city, a county)
adds one row per tenant instead of every organization (docs/performance.md, "Hub").
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from federation.messages.stats import BREAKDOWNS, LIFE_BREAKDOWNS, ORG_KINDS
from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type

_PREFIXES = {"by_stage": "stage", "by_status": "status", "by_gender": "gender",
             "by_age_band": "age", "by_education": "education",
             "by_party_age_band": "party_age", "orgs_by_kind": "children",
             # v2's `life`: organizational life and dues of the year to the snapshot date
             "meetings_held": "held", "meetings_due": "due", "meetings_met": "met",
             "attendance": "attendance", "dues": "dues"}


def column_name(breakdown: str, key: str) -> str:
    """`("by_age_band", "<=30")` -> `age_le_30`; `("orgs_by_kind", "group")` -> `children_group`."""
    slug = (key.replace("<=", "le_").replace(">=", "ge_").replace("<", "lt_")
            .replace(">", "gt_").replace("-", "_"))
    return f"{_PREFIXES[breakdown]}_{slug}"


#: (breakdown, key, column) for every count column, in the contract's order.
COUNT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *((b, k, column_name(b, k)) for b, keys in BREAKDOWNS.items() for k in keys),
    *(("orgs_by_kind", k, column_name("orgs_by_kind", k)) for k in ORG_KINDS),
    *((b, k, column_name(b, k)) for b, keys in LIFE_BREAKDOWNS.items() for k in keys),
)


def count_type(name: str) -> type[sa.Integer]:
    """Amounts in fen summed over a tenant outgrow 32 bits: those columns are 64-bit."""
    return sa.BigInteger if name.endswith("_fen") else sa.Integer


class StatSnapshot(HubModel):
    """A tenant's snapshot for one day; complete when every chunk of it has arrived."""

    __tablename__ = "stat_snapshots"
    __table_args__ = (sa.UniqueConstraint("node_tenant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("node_tenants.id"), index=True)
    #: The snapshot date, YYYY-MM-DD (sorts as a date).
    period: Mapped[str] = mapped_column(sa.String(10), index=True)
    #: When the node computed it; a newer publication for the same day replaces the snapshot.
    taken_at: Mapped[dt.datetime]
    chunks: Mapped[int]
    received_chunks: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

    def __repr__(self) -> str:
        return f"<StatSnapshot {self.id} tenant {self.node_tenant_id} {self.period}>"


class StatChunk(HubModel):
    """One received chunk of a snapshot (which message brought it, how many orgs)."""

    __tablename__ = "stat_snapshot_chunks"
    __table_args__ = (sa.UniqueConstraint("snapshot_id", "chunk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(sa.ForeignKey("stat_snapshots.id"))
    chunk: Mapped[int]
    orgs: Mapped[int]
    message_id: Mapped[str] = mapped_column(sa.String(36))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OrgStat(HubModel):
    """One organization in one snapshot: its own members' counts and its children by kind.

    The unique (snapshot_id, org_code) index is also the rollup's access path: for each
    snapshot in play, one index range over the codes of the subtree.
    """

    __table__ = sa.Table(
        "org_stats", HubModel.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("snapshot_id", sa.ForeignKey("stat_snapshots.id"), nullable=False),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("org_code", code_type(64), nullable=False),
        sa.Column("parent_code", code_type(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        *(sa.Column(name, count_type(name), nullable=False, default=0)
          for _b, _k, name in COUNT_COLUMNS),
        sa.UniqueConstraint("snapshot_id", "org_code"),
        sa.Index("ix_org_stats_snapshot_id_chunk", "snapshot_id", "chunk"),
    )

    def __repr__(self) -> str:
        return f"<OrgStat {self.id} {self.org_code}>"  # type: ignore[attr-defined]


#: The count columns that a rollup sums: members, and v2's organizational life and dues (the
#: children-by-kind columns are not summed: a rollup counts the organizations of each kind).
MEMBER_COLUMNS: tuple[str, ...] = tuple(name for b, _k, name in COUNT_COLUMNS
                                        if b != "orgs_by_kind")


class SnapshotTotal(HubModel):
    """The sums of one complete snapshot: what a rollup of its whole tenant adds up.

    Written when the snapshot's last chunk arrives (and again when a chunk is replaced),
    deleted when a newer publication starts replacing the snapshot.
    """

    __table__ = sa.Table(
        "stat_snapshot_totals", HubModel.metadata,
        sa.Column("snapshot_id", sa.ForeignKey("stat_snapshots.id"), primary_key=True),
        *(sa.Column(name, count_type(name), nullable=False, default=0)
          for name in MEMBER_COLUMNS),
        *(sa.Column(f"kind_{kind}", sa.Integer, nullable=False, default=0)
          for kind in ORG_KINDS),
        sa.Column("orgs", sa.Integer, nullable=False, default=0),
    )

    def __repr__(self) -> str:
        return f"<SnapshotTotal {self.snapshot_id}>"  # type: ignore[attr-defined]
