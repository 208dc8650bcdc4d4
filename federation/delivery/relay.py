"""The sending side: publish what the outbox holds, retransmit what stays unacknowledged, and
send our own cumulative acknowledgements.

One round: (1) in a short transaction, pick what is due per destination, give first-time
sequenced messages their stream sequence, and note which streams owe an ack; (2) sign each
message with the current key and the current time, and publish with confirms; (3) in a second
transaction, record what went: a sequenced message waits for the peer's ack and is retransmitted
with backoff (Synapse-style, doubling with jitter, capped); an unsequenced one is deleted.

A crash between (2) and (3) publishes again next round: a duplicate, which receivers drop,
never a loss. A destination whose queue does not exist is paused with its own backoff, and each
destination gets its own share of a round, so a dead peer never holds up live ones. A broker that
does not take a publish (down, restarting) costs nothing but time: the rows record the error and
are due again after a delay that doubles with every failed round in a row (`publish_retry`,
capped by `publish_retry_max`), and the relay waits as long before its next try.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery.consumer import ACK, lock_stream
from federation.delivery.models import OutboxMessage, Stream
from federation.delivery.party import Party
from federation.envelope import Envelope, new_id, seal
from federation.keys import utcnow
from federation.transport import Bus, PublishError, Unroutable
from shared.db.session import transaction

logger = logging.getLogger(__name__)

_OUTBOX = OutboxMessage.__table__
#: What the relay records after publishing names the row by id *and* message id: while it
#: published, the peer may have acknowledged the row (deleted by the consumer) and SQLite may
#: have given its id to a new message, which must stay untouched (due, and unsequenced).
_SAME_ROW = sa.and_(_OUTBOX.c.id == sa.bindparam("row_id"),
                    _OUTBOX.c.message_id == sa.bindparam("row_message_id"))


@dataclasses.dataclass
class _Item:
    row_id: int | None  # None: an ack made by the relay, not an outbox row
    message_id: str
    destination: str
    type: str
    tenant: str | None
    data: dict[str, Any]
    sequence: int | None
    attempts: int


@dataclasses.dataclass
class _Plan:
    items: list[_Item] = dataclasses.field(default_factory=list)
    #: (destination, row, message id, attempts) of retransmissions beyond the window
    deferred: list[tuple[str, int, str, int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Result:
    sent: list[_Item] = dataclasses.field(default_factory=list)
    failed: list[tuple[_Item, str]] = dataclasses.field(default_factory=list)
    unroutable: set[str] = dataclasses.field(default_factory=set)


class Relay:
    def __init__(self, party: Party, bus: Bus, *, clock: Callable[[], dt.datetime] = utcnow,
                 rng: random.Random | None = None) -> None:
        self.party = party
        self.bus = bus
        self.clock = clock
        self.rng = rng or random.Random()
        #: Rounds in a row in which a publish failed, and the delay the last one set.
        self.failures = 0
        self.retry_delay = dt.timedelta(0)

    def run(self, stop: threading.Event, *, idle: float = 0.2) -> None:
        """Relay until stopped; a round that found nothing to do sleeps `idle` seconds, one
        whose publishing failed as long as it delayed the messages (the broker is away: the
        rows wait in the database, and acks are not retried in a tight loop either)."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except PublishError as exc:
                logger.warning("publish failed", extra={
                    "error": str(exc), "failures": self.failures,
                    "retry_in_seconds": round(self.retry_delay.total_seconds(), 1)})
                stop.wait(self.retry_delay.total_seconds())
                continue
            if not busy:
                stop.wait(idle)

    def run_once(self) -> int:
        """One round; returns how many messages were published."""
        now = self.clock()
        with transaction(self.party.db) as session:
            plan = self._plan(session, now)
        if not plan.items and not plan.deferred:
            return 0  # an idle round: no second transaction (on SQLite, no write lock)
        result = self._publish(plan.items, now)
        if result.failed:
            self.failures += 1
            self.retry_delay = self.party.timing.publish_retry_delay(self.failures, self.rng)
        else:
            self.failures = 0
        with transaction(self.party.db) as session:
            self._record(session, plan, result, now)
        if result.sent:
            logger.info("published", extra={
                "count": len(result.sent), "destinations": sorted({i.destination
                                                                   for i in result.sent}),
                "message_ids": [i.message_id for i in result.sent[:20]]})
        if result.failed and not result.sent:
            raise PublishError(result.failed[0][1])
        return len(result.sent)

    # --- (1) what is due ---------------------------------------------------------------

    def _plan(self, session: Session, now: dt.datetime) -> _Plan:
        timing = self.party.timing
        plan = _Plan()
        blocked = set(session.scalars(sa.select(Stream.peer).where(Stream.blocked_until > now)))
        destinations = session.scalars(
            sa.select(OutboxMessage.destination).where(OutboxMessage.next_attempt_at <= now)
            .distinct()).all()
        for destination in sorted(set(destinations) - blocked):
            rows = session.execute(
                sa.select(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.type, _OUTBOX.c.tenant,
                          _OUTBOX.c.data, _OUTBOX.c.sequenced, _OUTBOX.c.sequence,
                          _OUTBOX.c.attempts)
                .where(_OUTBOX.c.destination == destination, _OUTBOX.c.next_attempt_at <= now)
                .order_by(_OUTBOX.c.id).limit(timing.batch)).all()
            stream = lock_stream(session, destination) if any(r.sequenced for r in rows) else None
            numbered = []
            for row in rows:
                sequence = row.sequence
                if row.sequenced and stream is not None:
                    if sequence is None:
                        stream.out_sequence += 1
                        sequence = stream.out_sequence
                        numbered.append({"row_id": row.id, "sequence": sequence})
                    elif row.attempts and sequence > stream.out_acked_up_to + timing.window:
                        # Beyond the window: probe the peer, do not flood it.
                        plan.deferred.append((destination, row.id, row.message_id,
                                              row.attempts))
                        continue
                plan.items.append(_Item(row.id, row.message_id, destination, row.type,
                                        row.tenant, row.data, sequence, row.attempts))
            if numbered:
                session.execute(sa.update(_OUTBOX).where(_OUTBOX.c.id == sa.bindparam("row_id"))
                                .values(sequence=sa.bindparam("sequence")), numbered)
        for stream in session.scalars(sa.select(Stream).where(Stream.in_ack_due.is_(True))):
            if stream.peer not in blocked:
                plan.items.append(_Item(None, new_id(), stream.peer, ACK, None,
                                        {"up_to": stream.in_applied_up_to}, None, 0))
        return plan

    # --- (2) sign and publish ----------------------------------------------------------

    def _publish(self, items: list[_Item], now: dt.datetime) -> _Result:
        """One publish_many for the whole round, every destination at once: its confirms
        are pipelined, where one call per destination waited for a round trip each (a
        directive to 500 nodes: 500 waits for a quorum queue's confirm). A destination
        without a queue comes back in Unroutable, the rest were confirmed; any other failure
        fails the round (nothing is known to be sent: it is all retried, duplicates are
        harmless)."""
        result = _Result()
        if not items:
            return result
        key, me = self.party.signing_key, self.party.id
        wire = [(i.destination,
                 seal(Envelope(id=i.message_id, type=i.type, source=me,
                               destination=i.destination, time=now, tenant=i.tenant,
                               sequence=i.sequence, data=i.data), key, validate=False),
                 i.message_id) for i in items]
        try:
            self.bus.publish_many(wire)
        except Unroutable as exc:
            for destination in exc.destinations:
                logger.warning("destination unroutable", extra={"destination": destination,
                                                                "error": str(exc)})
            result.unroutable.update(exc.destinations)
            result.sent.extend(i for i in items if i.destination not in result.unroutable)
        except PublishError as exc:
            result.failed.extend((i, str(exc)[:500]) for i in items)
        else:
            result.sent.extend(items)
        return result

    # --- (3) what went -----------------------------------------------------------------

    def _record(self, session: Session, plan: _Plan, result: _Result, now: dt.datetime) -> None:
        timing = self.party.timing
        # Streams first, in one order, then outbox rows: the consumer locks in that order too.
        touched = ({i.destination for i in plan.items} | {d[0] for d in plan.deferred}
                   | result.unroutable)
        streams = {peer: lock_stream(session, peer) for peer in sorted(touched)}
        sent = [i for i in result.sent if i.row_id is not None]
        waiting = [{"row_id": i.row_id, "row_message_id": i.message_id,
                    "attempts": i.attempts + 1, "sent_at": now,
                    "next_attempt_at": now + timing.retransmit_delay(i.attempts + 1, self.rng)}
                   for i in sent if i.sequence is not None]
        if waiting:
            session.execute(
                sa.update(_OUTBOX).where(_SAME_ROW)
                .values(attempts=sa.bindparam("attempts"), sent_at=sa.bindparam("sent_at"),
                        next_attempt_at=sa.bindparam("next_attempt_at"), last_error=None),
                waiting)
        gone = [{"row_id": i.row_id, "row_message_id": i.message_id}
                for i in sent if i.sequence is None]
        if gone:
            session.execute(sa.delete(_OUTBOX).where(_SAME_ROW), gone)
        later = [{"row_id": row_id, "row_message_id": message_id,
                  "next_attempt_at": now + timing.retransmit_delay(attempts, self.rng)}
                 for _destination, row_id, message_id, attempts in plan.deferred]
        failed = [{"row_id": i.row_id, "row_message_id": i.message_id,
                   "next_attempt_at": now + self.retry_delay, "last_error": error}
                  for i, error in result.failed if i.row_id is not None]
        for params in (later, failed):
            if params:
                columns = [k for k in params[0] if k not in ("row_id", "row_message_id")]
                session.execute(sa.update(_OUTBOX).where(_SAME_ROW)
                                .values({k: sa.bindparam(k) for k in columns}), params)
        for item in result.sent:
            stream = streams[item.destination]
            stream.last_sent_at = now
            stream.blocked_until, stream.block_interval = None, 0  # reachable again
            if item.type == ACK and item.row_id is None:
                stream.in_acked_up_to = max(stream.in_acked_up_to, item.data["up_to"])
                stream.in_ack_due = stream.in_applied_up_to > stream.in_acked_up_to
        for destination in result.unroutable:
            stream = streams[destination]
            interval = min(max(stream.block_interval * 2,
                               int(timing.block_initial.total_seconds())),
                           int(timing.block_max.total_seconds()))
            stream.block_interval = interval
            stream.blocked_until = now + dt.timedelta(seconds=interval)
