"""Where every tenant of the network lives, as the hub last said, and the keys to reach it.

The hub sends the whole directory (`partynet.tenants.directory.v1`) when its registry changes
and on demand; `apply_directory` replaces what this node held with a newer version. Transfers
use it to find a destination tenant's node (`locate_tenant`), to offer destinations
(`known_tenants`), to seal a step for a node (`node_key`) and to verify an origin's signature
on a step (`verification_ring`: the key store the key directory fills, plus the keys the hub
vouches for here, so a node enrolled since our last key refresh is not refused).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery.keystore import load_ring
from federation.keys import KeyRing, PublicKey, decode_base64, parse_time, utcnow
from node.directory.models import DirectoryNode, DirectoryTenant, DirectoryVersion

#: As the bus's own key store: keys not confirmed by the hub for a week are not trusted.
TRUST_HORIZON = dt.timedelta(days=7)
_STATE_ID = 1


@dataclasses.dataclass(frozen=True)
class TenantPlace:
    """Where a tenant lives: its node, slug, name, region code and code prefix."""

    node: str
    slug: str
    name: str
    region_code: str
    code_prefix: str


def _place(row: DirectoryTenant) -> TenantPlace:
    return TenantPlace(row.node, row.slug, row.name, row.region, row.code_prefix)


def apply_directory(session: Session, data: dict[str, Any], *,
                    now: dt.datetime | None = None) -> bool:
    """Replace the directory with `data` unless we hold a newer version; True if applied.

    The same version again is applied (it is the same list, sent again on demand)."""
    now = now or utcnow()
    state = session.scalars(sa.select(DirectoryVersion).where(
        DirectoryVersion.id == _STATE_ID).with_for_update()).first()
    if state is not None and data["version"] < state.version:
        return False
    if state is None:
        state = DirectoryVersion(id=_STATE_ID, version=data["version"],
                                 issued_at=parse_time(data["issued_at"]))
        session.add(state)
    state.version, state.issued_at = data["version"], parse_time(data["issued_at"])
    state.received_at = now
    session.execute(sa.delete(DirectoryTenant))
    session.execute(sa.delete(DirectoryNode))
    session.add_all(DirectoryNode(node=entry["node"], key_id=entry["key_id"],
                                  public=decode_base64(entry["public"]),
                                  valid_from=parse_time(entry["valid_from"]),
                                  valid_until=parse_time(entry["valid_until"]))
                    for entry in data["nodes"])
    session.add_all(DirectoryTenant(node=entry["node"], slug=entry["slug"], name=entry["name"],
                                    region=entry["region"], code_prefix=entry["code_prefix"])
                    for entry in data["tenants"])
    session.flush()
    return True


def held_version(session: Session) -> DirectoryVersion | None:
    return session.get(DirectoryVersion, _STATE_ID)


def locate_tenant(session: Session, slug: str, node: str | None = None) -> TenantPlace | None:
    """The tenant with this slug (on `node` if given). Slugs are unique per node only: a slug
    two nodes use is ambiguous without its node, and then None."""
    query = sa.select(DirectoryTenant).where(DirectoryTenant.slug == slug)
    if node is not None:
        query = query.where(DirectoryTenant.node == node)
    rows = session.scalars(query.limit(2)).all()
    return _place(rows[0]) if len(rows) == 1 else None


def locate_org(session: Session, org_code: str) -> TenantPlace | None:
    """The tenant whose code prefix starts `org_code` (prefixes are network-unique and
    prefix-free, so there is at most one)."""
    candidates = [org_code[:n] for n in range(6, min(len(org_code), 12) + 1)]
    row = session.scalars(sa.select(DirectoryTenant).where(
        DirectoryTenant.code_prefix.in_(candidates))).first()
    return _place(row) if row is not None else None


def known_tenants(session: Session, *, exclude_node: str | None = None) -> list[TenantPlace]:
    """Every tenant in the directory, by region then slug (`exclude_node`: not those of this
    node, which the caller knows better)."""
    query = sa.select(DirectoryTenant).order_by(DirectoryTenant.region, DirectoryTenant.slug,
                                                DirectoryTenant.node)
    if exclude_node is not None:
        query = query.where(DirectoryTenant.node != exclude_node)
    return [_place(row) for row in session.scalars(query)]


def node_key(session: Session, node: str) -> DirectoryNode | None:
    """The key the hub says `node` signs with now (its steps are sealed to it)."""
    return session.get(DirectoryNode, node)


def verification_ring(session: Session) -> KeyRing:
    """Keys to verify an origin's signature with: the bus's key store (with its revocations,
    which always win) plus the directory's node keys it does not have yet."""
    ring = load_ring(session, TRUST_HORIZON)
    state = held_version(session)
    added_at = state.received_at if state is not None else utcnow()
    for row in session.scalars(sa.select(DirectoryNode)):
        if any(key.key_id == row.key_id for key in ring.keys(row.node)):
            continue
        ring.add(PublicKey(owner=row.node, key_id=row.key_id, public=row.public,
                           valid_from=row.valid_from, valid_until=row.valid_until),
                 now=added_at)
    return ring


def nodes(session: Session) -> list[DirectoryNode]:
    return list(session.scalars(sa.select(DirectoryNode).order_by(DirectoryNode.node)))
