"""Transfer steps to and from other nodes, through the hub, sealed end to end.

`send_step` (called by the carrier when the other side's tenant is not hosted here) seals the
step body for the destination node's key (the hub's tenant directory says which), wraps it in
an inner envelope signed by this node, and queues `partynet.transfer.step.v1` to the hub in the
caller's transaction. `apply_routed` is the other end: the hub's `partynet.transfer.routed.v1`
is opened (the origin's own signature checked, the box opened with our key, the signed
metadata compared) and handed to `node.transfers.services.apply_step`, in the consumer's
transaction. `apply_undeliverable` turns the hub's refusal into the step `undeliverable` at the
origin. The state machine is `node.transfers.services`'; this module only carries.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import HUB, format_time
from federation.messages.transfers import IN_STEPS, OUT_STEPS, SEALED, STEP
from federation.sealed import SealError, seal_step
from node.audit.recording import acting_as
from node.directory import identity
from node.directory import services as directory
from node.directory.services import TenantPlace
from shared.errors import InvalidInput

__all__ = ["TenantPlace", "apply_routed", "apply_undeliverable", "known_tenants",
           "locate_tenant", "send_step"]

logger = logging.getLogger(__name__)

RoutedStepRefused = identity.RoutedStepRefused
#: The metadata the origin signed with the step (the hub routes by them).
SIGNED_META = ("uid", "step", "attempt", "from_tenant", "to_tenant")


# --- where tenants are --------------------------------------------------------------------


#: Where a step may go: tenants of other nodes, from the hub's tenant directory.
locate_tenant = identity.locate_remote_tenant
known_tenants = identity.remote_tenants


# --- sending ----------------------------------------------------------------------------------


def send_step(session: Session, transfer: Any, step: str, body: dict[str, Any]) -> str:
    """Seal `step` for the other side's node and queue it to the hub; returns the message id."""
    if step in OUT_STEPS:
        to_node, to_tenant = transfer.to_node, transfer.to_tenant
        from_tenant = transfer.from_tenant
    elif step in IN_STEPS:
        to_node, to_tenant = transfer.from_node, transfer.from_tenant
        from_tenant = transfer.to_tenant
    else:
        raise ValueError(f"not a step between nodes: {step!r}")
    me, key = identity.me()
    recipient = directory.node_key(session, to_node)
    if recipient is None:
        raise InvalidInput("The receiving organization's node is not in the network directory "
                           "this node holds; the hub sends it when nodes enroll.",
                           errors={"to_tenant": ["Unknown node."]})
    attempt = int(body.get("attempt") or transfer.attempt or 1)
    meta = {"uid": transfer.uid, "step": step, "attempt": attempt, "from_tenant": from_tenant,
            "to_tenant": to_tenant}
    try:
        inner = seal_step(signing_key=key, source=me, destination=to_node, tenant=to_tenant,
                          recipient_key_id=recipient.key_id, recipient_public=recipient.public,
                          meta=meta, body=body)
    except SealError as error:
        raise InvalidInput(f"The step cannot be sealed: {error}") from None
    letter = step == "letter"
    valid_until = transfer.valid_until if letter else None
    data = {**meta, "from_node": me, "to_node": to_node,
            "to_org_code": transfer.to_org_code if letter else None,
            "valid_until": format_time(valid_until) if valid_until is not None else None,
            "identity_hash": transfer.identity_hash if letter else None, "signed": inner}
    return send(session, STEP, destination=HUB, tenant=from_tenant, data=data)


# --- receiving --------------------------------------------------------------------------------


def apply_routed(session: Session, envelope: Envelope) -> None:
    """The hub forwarded a step from another node: check it is the origin's, open it, apply."""
    from node.transfers import services

    data = envelope.data
    inner, body = identity.open_routed(session, envelope, inner_type=SEALED,
                                       signed_meta=SIGNED_META)
    with acting_as(f"transfer:{inner.source}/{data['from_tenant']}"):
        services.apply_step(session, tenant_slug=data["to_tenant"], uid=data["uid"],
                            step=data["step"], body=body, sender_node=inner.source)


def apply_undeliverable(session: Session, envelope: Envelope) -> None:
    """The hub refused to route one of our steps. A refused step of the sending side (a letter,
    a release...) is the step `undeliverable` at the origin, treated like a rejection there; a
    refused step of the receiving side changes nothing here (logged): its origin is gone."""
    from node.transfers import services

    data = envelope.data
    if envelope.tenant != data["from_tenant"]:
        raise RoutedStepRefused(f"refusal for tenant {envelope.tenant}, step of "
                                f"{data['from_tenant']}")
    if data["step"] not in OUT_STEPS:
        logger.warning("transfer step undeliverable", extra={
            "uid": data["uid"], "step": data["step"], "reason": data["reason_code"]})
        return
    with acting_as("transfer:hub"):
        services.apply_step(session, tenant_slug=data["from_tenant"], uid=data["uid"],
                            step="undeliverable",
                            body={"attempt": data["attempt"], "reason_code": data["reason_code"],
                                  "detail": data["detail"]},
                            sender_node=HUB)
