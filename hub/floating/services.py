"""Routing floating-certificate steps between nodes, by their metadata only.

A node sends each step of a certificate whose other side is on another node to the hub
(`partynet.floating.step.v1`): the metadata in clear (uid, step, the sending side, nodes and
tenants; for `issued` the host organization's code and the validity), the step itself in the
origin's signed inner envelope with the body sealed for the destination node
(`federation.sealed`). The hub checks that the inner envelope is the source's own and says what
the metadata say, refuses an unknown or revoked destination with
`partynet.floating.undeliverable.v1` back to the sender, and otherwise forwards the inner
envelope unchanged (`partynet.floating.routed.v1`), in the consumer's transaction. It keeps no
record of certificates: nothing about a floating member stays at the hub but the bus's own
outbox rows, which hold only the metadata and the sealed box.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import utcnow
from federation.messages.floating import ROUTED, SEALED, UNDELIVERABLE
from hub.db import db
from hub.nodes import routing
from shared.errors import DomainError

#: The metadata the origin signed with the step (and the routed message repeats).
SIGNED_META = ("uid", "step", "from_side", "from_tenant", "to_tenant")


class FloatingStepRefused(DomainError):
    """A step the hub cannot take at all (not a routing refusal: a lie or a bug at the
    sender): the consumer quarantines it as handler_failed."""

    status = 422
    code = "floating-step-refused"
    title = "Floating step refused"


def apply_step(envelope: Envelope, *, now: dt.datetime | None = None) -> str:
    """Route one step; returns "routed" or the undeliverable reason code."""
    now = now or utcnow()
    data = envelope.data
    try:
        routing.check_step(envelope, now, inner_type=SEALED, signed_meta=SIGNED_META)
    except routing.InnerMismatch as error:
        raise FloatingStepRefused(str(error)) from None
    reason, detail = _refusal(data)
    session = db.session()
    if reason is not None:
        send(session, UNDELIVERABLE, destination=envelope.source, tenant=envelope.tenant,
             data={"uid": data["uid"], "step": data["step"], "from_side": data["from_side"],
                   "from_tenant": data["from_tenant"],
                   "to_node": data["to_node"] if reason != "unknown_tenant" else None,
                   "to_tenant": data["to_tenant"], "reason_code": reason,
                   "detail": detail[:500]})
        return reason
    send(session, ROUTED, destination=data["to_node"], tenant=data["to_tenant"],
         data={"uid": data["uid"], "step": data["step"], "from_side": data["from_side"],
               "from_node": data["from_node"], "from_tenant": data["from_tenant"],
               "to_tenant": data["to_tenant"], "signed": data["signed"]})
    return "routed"


def _refusal(data: dict[str, Any]) -> tuple[str | None, str]:
    return routing.destination_refusal(data["to_node"], data["to_tenant"])
