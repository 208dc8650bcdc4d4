"""Floating-certificate steps to and from other nodes, through the hub, sealed end to end.

The same carrying as a transfer's (`node.transfers.remote`), with the node's identity, key and
tenant directory shared with it: `send_step` (called by `services._deliver` when the other
side's tenant is on another node) seals the step body for that node's key, wraps it in an inner
envelope signed by this node (`partynet.floating.sealed.v1`) and queues
`partynet.floating.step.v1` to the hub in the caller's transaction. `apply_routed` is the
other end: the hub's `partynet.floating.routed.v1` is opened (the origin's own signature
checked, the box opened with our key, the signed metadata compared) and handed to
`node.floating.services.apply_routed_step`, in the consumer's transaction.
`apply_undeliverable` turns the hub's refusal into a clear ending of our side. The limited
member copy and participation lines travel only inside the sealed box.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import HUB
from federation.messages.floating import SEALED, STEP
from federation.sealed import SealError, seal_step
from node.audit.recording import acting_as
from node.auth.principal import maybe_principal, set_principal
from node.directory import identity
from node.directory import services as directory
from node.directory.services import TenantPlace
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.errors import InvalidInput

__all__ = ["RoutedStepRefused", "apply_routed", "apply_undeliverable", "known_tenants",
           "locate_tenant", "send_step", "this_node"]

logger = logging.getLogger(__name__)

#: What the hub may see of a step, signed and sealed with it (the routed message repeats it).
SIGNED_META = ("uid", "step", "from_side", "from_tenant", "to_tenant")


RoutedStepRefused = identity.RoutedStepRefused


def this_node() -> str:
    """This node's id in the network (the transfers' carrier knows it: one identity)."""
    return identity.node_id()


def locate_tenant(session: Session, slug: str) -> TenantPlace | None:
    """A tenant of another node, from the hub's tenant directory; None: unknown there."""
    return identity.locate_remote_tenant(session, slug)


def known_tenants(session: Session) -> list[TenantPlace]:
    """Tenants of other nodes that may host (this node's own are the caller's)."""
    return identity.remote_tenants(session)


# --- sending ----------------------------------------------------------------------------------


def send_step(session: Session, *, uid: str, step: str, from_side: str, from_tenant: str,
              to_node: str, to_tenant: str, body: dict[str, Any],
              issued: dict[str, str] | None = None) -> str:
    """Seal `step` for `to_node` and queue it to the hub; returns the message id. `issued`:
    the metadata of the `issued` step (host_org_code, starts_on, until)."""
    me, key = identity.me()
    recipient = directory.node_key(session, to_node)
    if recipient is None:
        raise InvalidInput("The host organization's node is not in the network directory this "
                           "node holds; the hub sends it when nodes enroll.",
                           errors={"host_tenant": ["Unknown node."]})
    meta = {"uid": uid, "step": step, "from_side": from_side, "from_tenant": from_tenant,
            "to_tenant": to_tenant}
    try:
        inner = seal_step(signing_key=key, source=me, destination=to_node, tenant=to_tenant,
                          recipient_key_id=recipient.key_id, recipient_public=recipient.public,
                          meta=meta, body=body, inner_type=SEALED)
    except SealError as error:
        raise InvalidInput(f"The step cannot be sealed: {error}") from None
    issued = issued or {}
    data = {**meta, "from_node": me, "to_node": to_node,
            "host_org_code": issued.get("host_org_code"), "starts_on": issued.get("starts_on"),
            "until": issued.get("until"), "signed": inner}
    return send(session, STEP, destination=HUB, tenant=from_tenant, data=data)


# --- receiving --------------------------------------------------------------------------------


def _local_tenant(session: Session, slug: str) -> Tenant:
    with all_tenants():
        tenant = session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise RoutedStepRefused(f"no tenant {slug!r} on this node")
    return tenant


def apply_routed(session: Session, envelope: Envelope) -> None:
    """The hub forwarded a step from another node: check it is the origin's, open it, apply."""
    from node.floating import services

    data = envelope.data
    inner, body = identity.open_routed(session, envelope, inner_type=SEALED,
                                       signed_meta=SIGNED_META)
    tenant = _local_tenant(session, data["to_tenant"])
    principal = maybe_principal()
    set_principal(None)
    try:
        with (tenant_context(tenant.id),
              acting_as(f"floating:{inner.source}/{data['from_tenant']}")):
            services.apply_routed_step(
                uid=data["uid"], from_side=data["from_side"], step=data["step"], body=body,
                sender_node=inner.source, sender_tenant=data["from_tenant"])
            session.flush()
    except services.StepRefused as error:
        raise RoutedStepRefused(str(error)) from None
    finally:
        set_principal(principal)


def apply_undeliverable(session: Session, envelope: Envelope) -> None:
    """The hub refused to route one of our steps: our side of the certificate ends, with the
    hub's reason, so nobody waits for an answer that cannot come."""
    from node.floating import services

    data = envelope.data
    if envelope.tenant != data["from_tenant"]:
        raise RoutedStepRefused(f"refusal for tenant {envelope.tenant}, step of "
                                f"{data['from_tenant']}")
    tenant = _local_tenant(session, data["from_tenant"])
    with tenant_context(tenant.id), acting_as("floating:hub"):
        changed = services.apply_undeliverable(
            uid=data["uid"], side=data["from_side"], step=data["step"],
            reason_code=data["reason_code"], detail=data["detail"])
        session.flush()
    if not changed:
        logger.warning("floating step undeliverable", extra={
            "uid": data["uid"], "step": data["step"], "reason": data["reason_code"]})
