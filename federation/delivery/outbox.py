"""Writing a message to send: one row in the caller's transaction, nothing on the network."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from federation.canonical import encode_canonical
from federation.delivery.models import OutboxMessage
from federation.envelope import new_id
from federation.keys import PARTY_ID_PATTERN
from federation.messages import validate_data


def send(session: Session, type: str, *, destination: str, data: dict[str, Any],
         tenant: str | None = None, sequenced: bool = True) -> str:
    """Queue a message for `destination`; it leaves when the caller's transaction commits.

    The contract is checked here, at the sender, so a message the receiver would refuse is a
    programming error raised in the business transaction (which then rolls back), not a
    quarantine entry on the other side. Returns the message id.
    """
    if not PARTY_ID_PATTERN.fullmatch(destination):
        raise ValueError(f"not a party id: {destination!r}")
    data = validate_data(type, data)
    encode_canonical(data)  # floats, huge integers: refused now, not by the receiver
    message_id = new_id()
    session.add(OutboxMessage(message_id=message_id, destination=destination, type=type,
                              tenant=tenant, data=data, sequenced=sequenced))
    return message_id
