"""The identity index on the hub: entries from the nodes, duplicate detection, notices back.

- **Entries** (`partynet.identity.indexed.v1`, node -> hub, the envelope's tenant): one row per
  (hash, tenant), the latest `as_of` winning, so duplicates and reordering on the bus are
  harmless. A full resync (`sync` set) names every hash of the tenant; when its last chunk
  arrives (a stream is applied in order), the tenant's active entries older than the resync and
  not named by it are retired (the node no longer has them).
- **Duplicates**: a hash active on two or more tenants (of one node or of several).
- **Notices**: after every change, each tenant holding the hash is told the *other* tenants
  where it is active (`partynet.identity.duplicate.v1`) or that it no longer is
  (`.resolved.v1`): one message per node per change, and only when what that tenant should know
  differs from what it was last told (`IdentityNotice`), so repeats send nothing.
- `is_active_elsewhere` is what the transfer saga asks before completing a transfer: is the
  person already on the rolls of a tenant other than the sending one?

The hub holds hashes only; it cannot compute one (it has no identity hash key).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import format_time, parse_time, utcnow
from federation.messages.identity import DUPLICATE, RESOLVED
from hub.db import db
from hub.identity.models import IdentityEntry, IdentityNotice
from hub.nodes.models import NodeTenant
from shared.errors import DomainError

#: Notices carry milliseconds: each one for a (hash, tenant) is at least this much later.
_TICK = dt.timedelta(milliseconds=1)


class IdentityRefused(DomainError):
    """A node's index message that cannot be applied (the bus quarantines it)."""

    status = 422
    code = "identity-refused"
    title = "Identity index message refused"


# --- entries ----------------------------------------------------------------------------------


def _node_tenant(node_id: str, slug: str | None) -> NodeTenant:
    if slug is None:
        raise IdentityRefused("an identity index message must name its tenant")
    tenant = db.session.scalar(sa.select(NodeTenant).where(NodeTenant.node_id == node_id,
                                                           NodeTenant.slug == slug))
    if tenant is None:
        raise IdentityRefused(f"{node_id} does not host tenant {slug!r}")
    return tenant


def apply_indexed(envelope: Envelope, *, now: dt.datetime | None = None) -> set[str]:
    """Handler body of partynet.identity.indexed.v1; returns the hashes whose state changed
    (their notices are sent in the same transaction)."""
    tenant = _node_tenant(envelope.source, envelope.tenant)
    data = envelope.data
    changed = record_entries(tenant, [(e["hash"], e["active"], parse_time(e["as_of"]))
                                      for e in data["entries"]])
    sync = data["sync"]
    if sync is not None and sync["chunk"] == sync["chunks"]:
        changed |= retire_unnamed(tenant, parse_time(sync["taken_at"]))
    notify(changed, now=now)
    return changed


def record_entries(tenant: NodeTenant, entries: Sequence[tuple[str, bool, dt.datetime]]
                   ) -> set[str]:
    """Upsert (hash, active, as_of) for a tenant, the latest `as_of` winning (an equal one is a
    repeat, or a later message of the same instant: applied). Returns the hashes whose `active`
    changed."""
    latest: dict[str, tuple[bool, dt.datetime]] = {}
    for digest, active, as_of in entries:
        if digest not in latest or as_of >= latest[digest][1]:
            latest[digest] = (active, as_of)
    if not latest:
        return set()
    existing = {row.hash: row for row in db.session.scalars(sa.select(IdentityEntry).where(
        IdentityEntry.node_tenant_id == tenant.id, IdentityEntry.hash.in_(list(latest))))}
    changed = set()
    for digest, (active, as_of) in latest.items():
        row = existing.get(digest)
        if row is None:
            db.session.add(IdentityEntry(hash=digest, node_tenant_id=tenant.id, active=active,
                                         as_of=as_of, received_at=utcnow()))
            if active:
                changed.add(digest)
        elif as_of >= row.as_of:
            if row.active != active:
                changed.add(digest)
            row.active, row.as_of, row.received_at = active, as_of, utcnow()
    db.session.flush()
    return changed


def retire_unnamed(tenant: NodeTenant, taken_at: dt.datetime) -> set[str]:
    """After a complete resync: the tenant's active entries it did not name (older than the
    resync) are no longer on its rolls."""
    stale = db.session.scalars(sa.select(IdentityEntry).where(
        IdentityEntry.node_tenant_id == tenant.id, IdentityEntry.active.is_(True),
        IdentityEntry.as_of < taken_at)).all()
    for row in stale:
        row.active, row.as_of = False, taken_at
    db.session.flush()
    return {row.hash for row in stale}


# --- duplicates and notices -------------------------------------------------------------------


def active_tenants(digest: str) -> list[NodeTenant]:
    return list(db.session.scalars(
        sa.select(NodeTenant).join(IdentityEntry, IdentityEntry.node_tenant_id == NodeTenant.id)
        .where(IdentityEntry.hash == digest, IdentityEntry.active.is_(True))
        .order_by(NodeTenant.id)))


def is_active_elsewhere(digest: str, except_tenant: NodeTenant | int) -> bool:
    """Whether the person with this keyed hash is on the rolls of a tenant other than
    `except_tenant` (a `NodeTenant` or its id). The transfer saga asks it before completing a
    transfer (`except_tenant`: the sending tenant, where the person stays active until the
    receipt): true means the person is already active somewhere else, the receiving tenant
    included, and the transfer must not complete."""
    tenant_id = except_tenant if isinstance(except_tenant, int) else except_tenant.id
    return db.session.scalar(sa.select(sa.literal(True)).where(
        IdentityEntry.hash == digest, IdentityEntry.active.is_(True),
        IdentityEntry.node_tenant_id != tenant_id).limit(1)) is not None


def _place(tenant: NodeTenant) -> dict[str, str]:
    return {"node": tenant.node_id, "tenant": tenant.slug, "region": tenant.region}


#: Hashes whose state is loaded together when notifying (a resync chunk at most).
NOTIFY_BATCH = 500


def notify(hashes: Iterable[str], *, now: dt.datetime | None = None) -> list[str]:
    """Bring every tenant holding each hash up to date, in the caller's transaction: one
    duplicate and/or one resolved message per node per hash, only where the tenant's due notice
    differs from the last one it got. Returns the ids of the messages queued.

    The state of up to NOTIFY_BATCH hashes is read in three queries, so a resync chunk costs the
    same few statements whatever its size."""
    now = now or utcnow()
    ordered = sorted(set(hashes))
    sent: list[str] = []
    for i in range(0, len(ordered), NOTIFY_BATCH):
        batch = ordered[i:i + NOTIFY_BATCH]
        active: dict[str, list[NodeTenant]] = {h: [] for h in batch}
        for digest, tenant in db.session.execute(
                sa.select(IdentityEntry.hash, NodeTenant)
                .join(NodeTenant, NodeTenant.id == IdentityEntry.node_tenant_id)
                .where(IdentityEntry.hash.in_(batch), IdentityEntry.active.is_(True))
                .order_by(NodeTenant.id)):
            active[digest].append(tenant)
        notices: dict[str, dict[int, IdentityNotice]] = {h: {} for h in batch}
        for notice in db.session.scalars(sa.select(IdentityNotice).where(
                IdentityNotice.hash.in_(batch))):
            notices[notice.hash][notice.node_tenant_id] = notice
        told = {i for h in batch for i, n in notices[h].items() if n.elsewhere}
        tenants = {t.id: t for t in db.session.scalars(
            sa.select(NodeTenant).where(NodeTenant.id.in_(told)))} if told else {}
        for digest in batch:
            sent.extend(_notify_one(digest, active[digest], notices[digest], tenants, now))
    db.session.flush()
    return sent


def _notify_one(digest: str, active: list[NodeTenant], notices: dict[int, IdentityNotice],
                tenants: dict[int, NodeTenant], now: dt.datetime) -> list[str]:
    by_id = {t.id: t for t in active}
    flags: dict[str, list[dict[str, Any]]] = {}
    resolved: dict[str, list[str]] = {}
    touched: dict[str, list[IdentityNotice]] = {}
    for tenant in active:
        others = [i for i in by_id if i != tenant.id] if len(active) > 1 else []
        notice = notices.get(tenant.id)
        if others == (notice.elsewhere if notice is not None else []):
            continue
        if notice is None:
            notice = IdentityNotice(hash=digest, node_tenant_id=tenant.id, elsewhere=[],
                                    sent_as_of=now - _TICK)
            db.session.add(notice)
        if others:
            if not notice.elsewhere:
                notice.flagged_since = now
            flags.setdefault(tenant.node_id, []).append(
                {"tenant": tenant.slug, "elsewhere": [_place(by_id[i]) for i in others]})
        else:
            resolved.setdefault(tenant.node_id, []).append(tenant.slug)
            notice.flagged_since = None
        notice.elsewhere = others
        touched.setdefault(tenant.node_id, []).append(notice)
    # Tenants told of a duplicate that no longer have the person on their own rolls.
    for tenant_id, notice in notices.items():
        if tenant_id in by_id or not notice.elsewhere:
            continue
        tenant = tenants[tenant_id]
        resolved.setdefault(tenant.node_id, []).append(tenant.slug)
        notice.elsewhere, notice.flagged_since = [], None
        touched.setdefault(tenant.node_id, []).append(notice)
    sent = []
    for node_id, rows in touched.items():
        as_of = max([now, *(row.sent_as_of + _TICK for row in rows)])
        for row in rows:
            row.sent_as_of = as_of
        stamp = format_time(as_of)
        if node_id in flags:
            sent.append(send(db.session(), DUPLICATE, destination=node_id, sequenced=True,
                             data={"hash": digest, "as_of": stamp, "flags": flags[node_id]}))
        if node_id in resolved:
            sent.append(send(db.session(), RESOLVED, destination=node_id, sequenced=True,
                             data={"hash": digest, "as_of": stamp,
                                   "tenants": sorted(resolved[node_id])}))
    return sent


# --- the list for administrators and auditors -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Place:
    node_id: str
    tenant: str
    name: str
    region: str
    as_of: dt.datetime


@dataclasses.dataclass(frozen=True)
class Duplicate:
    hash: str
    places: list[Place]
    since: dt.datetime | None


def list_duplicates(*, after: str | None = None, limit: int = 50) -> list[Duplicate]:
    """Hashes active on two or more tenants, in hash order (a cursor is the last hash)."""
    hashes = sa.select(IdentityEntry.hash).where(IdentityEntry.active.is_(True))
    if after is not None:
        hashes = hashes.where(IdentityEntry.hash > after)
    found = list(db.session.scalars(hashes.group_by(IdentityEntry.hash)
                                    .having(sa.func.count() > 1)
                                    .order_by(IdentityEntry.hash).limit(limit)))
    if not found:
        return []
    places: dict[str, list[Place]] = {h: [] for h in found}
    for entry, tenant in db.session.execute(
            sa.select(IdentityEntry, NodeTenant)
            .join(NodeTenant, NodeTenant.id == IdentityEntry.node_tenant_id)
            .where(IdentityEntry.hash.in_(found), IdentityEntry.active.is_(True))
            .order_by(NodeTenant.node_id, NodeTenant.slug)):
        places[entry.hash].append(Place(tenant.node_id, tenant.slug, tenant.name,
                                        tenant.region, entry.as_of))
    since = dict(db.session.execute(
        sa.select(IdentityNotice.hash, sa.func.min(IdentityNotice.flagged_since))
        .where(IdentityNotice.hash.in_(found)).group_by(IdentityNotice.hash)).all())
    return [Duplicate(h, places[h], since.get(h)) for h in found]


def count_duplicates() -> int:
    hashes = (sa.select(IdentityEntry.hash).where(IdentityEntry.active.is_(True))
              .group_by(IdentityEntry.hash).having(sa.func.count() > 1).subquery())
    return db.session.scalar(sa.select(sa.func.count()).select_from(hashes)) or 0
