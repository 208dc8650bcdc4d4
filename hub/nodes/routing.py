"""What the hub checks before it routes a node's sealed step to another node (transfers and
floating certificates alike): the origin's own signature on the inner envelope, metadata that
say what the signed step says, and a destination tenant registered on an active node."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from federation.delivery.models import KnownKey
from federation.envelope import Envelope
from federation.keys import KeyRing, PublicKey
from federation.sealed import SealError, verify_step
from hub.db import db
from hub.nodes.models import Node, NodeStatus, NodeTenant


class InnerMismatch(Exception):
    """The inner envelope is not the origin's, or does not say what the routed metadata say:
    a lie or a bug at the sender, never a routing refusal."""


def origin_ring(node_id: str, now: dt.datetime) -> KeyRing:
    """The keys the hub registered for `node_id`, revocations included."""
    ring = KeyRing(trust_horizon=None)
    for key in db.session.scalars(sa.select(KnownKey).where(KnownKey.owner == node_id)):
        ring.add(PublicKey(owner=key.owner, key_id=key.key_id, public=key.public,
                           valid_from=key.valid_from, valid_until=key.valid_until,
                           revoked_at=key.revoked_at), now=now)
    return ring


def check_step(envelope: Envelope, now: dt.datetime, *, inner_type: str,
               signed_meta: Iterable[str]) -> Envelope:
    """A step a node sent the hub to route: for a tenant of its own, and its inner envelope
    as `verify_inner` requires; returns the inner envelope."""
    data = envelope.data
    if data["from_node"] != envelope.source or data["from_tenant"] != envelope.tenant:
        raise InnerMismatch(f"{envelope.source} sent a step for {data['from_node']}/"
                            f"{data['from_tenant']} in an envelope for {envelope.tenant}")
    return verify_inner(data, now, inner_type=inner_type, signed_meta=signed_meta)


def verify_inner(data: dict[str, Any], now: dt.datetime, *, inner_type: str,
                 signed_meta: Iterable[str]) -> Envelope:
    """The inner envelope of a routed step, signed by `from_node` for `to_node` and naming in
    its signed data the same `signed_meta` as the clear metadata the hub routes (and records)
    by: the hub forwards nothing it could not vouch came from the origin as it says."""
    try:
        inner = verify_step(data["signed"], keyring=origin_ring(data["from_node"], now),
                            me=data["to_node"], now=now, inner_type=inner_type)
    except SealError as error:
        raise InnerMismatch(str(error)) from None
    if (inner.source != data["from_node"] or inner.tenant != data["to_tenant"]
            or any(inner.data[name] != data[name] for name in signed_meta)):
        raise InnerMismatch("the inner envelope does not say what the metadata say")
    return inner


def registered_tenant(node_id: str, slug: str) -> NodeTenant | None:
    return db.session.scalars(sa.select(NodeTenant).where(
        NodeTenant.node_id == node_id, NodeTenant.slug == slug)).first()


def destination_refusal(node_id: str, slug: str) -> tuple[str | None, str]:
    """Why a step cannot go to tenant `slug` of `node_id` (`unknown_tenant`, `node_revoked`)
    with a detail for the sender, or (None, "")."""
    tenant = registered_tenant(node_id, slug)
    if tenant is None:
        return "unknown_tenant", f"no tenant {slug!r} on node {node_id!r} in the registry"
    node = db.session.get(Node, tenant.node_id)
    if node is None or node.status != NodeStatus.active:
        return "node_revoked", f"node {node_id} is revoked"
    return None, ""
