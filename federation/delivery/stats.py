"""Delivery health read from the database, so every process (web, relay, consumer) reports the
same numbers: what waits to be sent, how old it is, what was quarantined or parked."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery.models import OutboxMessage, ParkedMessage, QuarantinedMessage, Stream
from federation.delivery.quarantine import HELD


@dataclasses.dataclass(frozen=True)
class PeerStats:
    peer: str
    sent: int  # sequences given out
    acked: int  # acknowledged by the peer
    applied: int  # of the peer's stream, applied here
    last_received_at: dt.datetime | None
    blocked_until: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class DeliveryStats:
    backlog: int  # outbox rows not yet acknowledged (or not yet sent)
    lag_seconds: int  # age of the oldest of them; 0 when none
    quarantined: dict[str, int]  # held, by reason
    parked: int
    peers: list[PeerStats]

    def as_dict(self) -> dict[str, object]:
        return {"backlog": self.backlog, "lag_seconds": self.lag_seconds,
                "quarantined": sum(self.quarantined.values()), "parked": self.parked}


def delivery_stats(session: Session, now: dt.datetime) -> DeliveryStats:
    backlog, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(OutboxMessage.created_at))).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite aggregate: no type processing
        oldest = oldest.replace(tzinfo=dt.UTC)
    lag = max(int((now - oldest).total_seconds()), 0) if oldest else 0
    quarantined = dict(session.execute(
        sa.select(QuarantinedMessage.reason, sa.func.count())
        .where(QuarantinedMessage.status == HELD).group_by(QuarantinedMessage.reason)).all())
    parked = session.scalar(sa.select(sa.func.count()).select_from(ParkedMessage)) or 0
    peers = [PeerStats(s.peer, s.out_sequence, s.out_acked_up_to, s.in_applied_up_to,
                       s.last_received_at, s.blocked_until)
             for s in session.scalars(sa.select(Stream).order_by(Stream.peer))]
    return DeliveryStats(backlog, lag, quarantined, parked, peers)
