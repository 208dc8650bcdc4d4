"""The quarantine: every message that was not applied, with its reason, for an operator.

Holding is idempotent per (source, message id, reason): a retransmitted bad message counts up
`times_seen` instead of filling the table. An operator may release a held message (it is
checked again with the clock-skew window lifted, then received as usual, so it still cannot be
applied twice) or discard it; both are recorded with who did it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery.models import QuarantinedMessage
from federation.keys import utcnow
from shared.errors import Conflict, NotFound

logger = logging.getLogger(__name__)

#: Reasons a verified message is refused by the receiving application, beside the envelope's.
APPLICATION_REASONS = ("handler_failed", "no_handler")
HELD, RELEASED, DISCARDED = "held", "released", "discarded"


def hold(session: Session, body: bytes, reason: str, detail: str, *, source: str | None,
         message_id: str | None, type: str | None, tenant: str | None = None,
         now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    logger.warning("quarantined", extra={"message_id": message_id, "source": source,
                                         "type": type, "reason": reason})
    existing = None
    if source is not None and message_id is not None:
        existing = session.scalars(sa.select(QuarantinedMessage).where(
            QuarantinedMessage.source == source, QuarantinedMessage.message_id == message_id,
            QuarantinedMessage.reason == reason)).first()
    if existing is not None:
        existing.times_seen += 1
        existing.last_seen_at = now
        return
    session.add(QuarantinedMessage(reason=reason, detail=detail[:1000], source=source,
                                   message_id=message_id, type=type, tenant=tenant, body=body,
                                   received_at=now, last_seen_at=now))


def held(session: Session, *, status: str | None = HELD, reason: str | None = None,
         source: str | None = None, tenants: Sequence[str] | None = None, limit: int = 100,
         after_id: int = 0) -> Sequence[QuarantinedMessage]:
    """Held (or resolved) messages in id order; `tenants` limits them to those claiming one."""
    query = sa.select(QuarantinedMessage).where(QuarantinedMessage.id > after_id)
    if status is not None:
        query = query.where(QuarantinedMessage.status == status)
    if reason is not None:
        query = query.where(QuarantinedMessage.reason == reason)
    if source is not None:
        query = query.where(QuarantinedMessage.source == source)
    if tenants is not None:
        query = query.where(QuarantinedMessage.tenant.in_(tenants))
    return session.scalars(query.order_by(QuarantinedMessage.id).limit(limit)).all()


def get_held(session: Session, entry_id: int) -> QuarantinedMessage:
    entry = session.get(QuarantinedMessage, entry_id, with_for_update=True)
    if entry is None:
        raise NotFound("No such quarantined message.")
    return entry


def resolve(entry: QuarantinedMessage, status: str, *, by: str, note: str,
            now: dt.datetime | None = None) -> None:
    if entry.status != HELD:
        raise Conflict(f"This message was already {entry.status}.")
    entry.status, entry.resolved_by, entry.resolution = status, by[:120], note[:1000]
    entry.resolved_at = now or utcnow()


def counts(session: Session) -> dict[str, int]:
    """Held messages by reason (for /readyz and /metrics)."""
    rows = session.execute(sa.select(QuarantinedMessage.reason, sa.func.count())
                           .where(QuarantinedMessage.status == HELD)
                           .group_by(QuarantinedMessage.reason))
    return {reason: n for reason, n in rows}
