"""Carries a step from one side of a transfer to the other.

If the other side's tenant is hosted on this node, the step is applied at once, in the same
transaction (`services.apply_step` in that tenant's context, with no signed-in principal: the
other tenant must not see who acted here). Otherwise `node.transfers.remote.send_step` seals it
for the destination node and queues it to the hub through the outbox, in the same transaction.

Tests replace the carrier with `use(hook)` (e.g. a queue that delivers later, twice or out of
order); `use(None)` restores the default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.messages.transfers import OUT_STEPS
from node.audit.recording import acting_as
from node.auth.principal import maybe_principal, set_principal
from node.directory import identity
from node.directory.services import TenantPlace
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants
from node.transfers import remote

Hook = Callable[[Session, Any, str, dict[str, Any]], None]
_hook: Hook | None = None


def use(hook: Hook | None) -> None:
    """Replace how steps travel (tests); None: the default carrier."""
    global _hook
    _hook = hook


def this_node() -> str:
    """This node's id in the network (NODE_NODE_ID)."""
    return identity.node_id()


#: `session.info` key: (transaction, {slug: tenant}) of this node's tenants already looked up
#: in the current transaction (a saga within the node looks both tenants up at every step).
_TENANTS = "partynet_transfer_tenants"


def local_tenant(session: Session, slug: str) -> Tenant | None:
    """This node's tenant `slug`, or None."""
    transaction = session.get_transaction()
    cached = session.info.get(_TENANTS)
    if cached is None or cached[0] is not transaction:
        cached = session.info[_TENANTS] = (transaction, {})
    tenants: dict[str, Tenant] = cached[1]
    if slug in tenants:
        return tenants[slug]
    with all_tenants():
        tenant = session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is not None and transaction is not None:
        tenants[slug] = tenant
    return tenant


def locate(session: Session, slug: str) -> TenantPlace | None:
    """A tenant of this node, or one the hub's directory names; None: unknown."""
    tenant = local_tenant(session, slug)
    if tenant is not None:
        return TenantPlace(this_node(), tenant.slug, tenant.name, tenant.region_code,
                           tenant.code_prefix)
    return remote.locate_tenant(session, slug)


def known_tenants(session: Session) -> list[TenantPlace]:
    """Every tenant a transfer may go to: this node's, then the directory's."""
    with all_tenants():
        tenants = session.scalars(sa.select(Tenant).order_by(Tenant.slug)).all()
    places = [TenantPlace(this_node(), t.slug, t.name, t.region_code, t.code_prefix)
              for t in tenants]
    local = {p.slug for p in places}
    return places + [p for p in remote.known_tenants(session) if p.slug not in local]


def peer(transfer: Any, step: str) -> tuple[str, str]:
    """(node, tenant slug) of the side that receives `step`."""
    if step in OUT_STEPS:
        return transfer.to_node, transfer.to_tenant
    return transfer.from_node, transfer.from_tenant


def deliver(session: Session, transfer: Any, step: str, body: dict[str, Any]) -> None:
    """Send `step` to the other side of `transfer`, in the caller's transaction."""
    if _hook is not None:
        _hook(session, transfer, step, body)
        return
    deliver_now(session, transfer, step, body)


def deliver_now(session: Session, transfer: Any, step: str, body: dict[str, Any]) -> None:
    """The default carrier (also what a test queue calls when it lets a step through)."""
    from node.transfers import services

    node, slug = peer(transfer, step)
    here = this_node()
    if node == here and local_tenant(session, slug) is not None:
        session.flush()
        principal = maybe_principal()
        set_principal(None)
        try:
            sender = transfer.from_tenant if step in OUT_STEPS else transfer.to_tenant
            with acting_as(f"transfer:{sender}"):
                services.apply_step(session, tenant_slug=slug, uid=transfer.uid, step=step,
                                    body=body, sender_node=here)
        finally:
            set_principal(principal)
        return
    remote.send_step(session, transfer, step, body)
