"""The receiving side: verify, deduplicate, apply in order, in one transaction, then ack.

For each message: the envelope is opened (signature, key, destination, time window, schema);
anything refused goes to the quarantine with its reason. A sequenced message is applied only
in its turn on its stream: earlier sequences are duplicates (acknowledged again so the sender
stops), later ones are parked and a resend of the gap is requested. The effect, the inbox row
and the stream position are written in one transaction; the transport acks only after it
committed, so a crash anywhere means a redelivery, which the stream position makes harmless.

A handler that raises (other than a database outage) makes the message poison: the batch is
rolled back and done again with that message quarantined as "handler_failed" and counted as
consumed, so the stream goes on. A database outage propagates: nothing was committed and the
transport redelivers.

`run` is pipelined (federation.transport.Pipeline): `prepare_batch` (verify and decode, no
database write) runs on the thread that reads the broker while `apply_batch` commits the
previous batch on a worker thread; batches are applied one at a time, in arrival order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.canonical import decode_strict, encode_canonical
from federation.delivery.models import InboxMessage, OutboxMessage, ParkedMessage, Stream
from federation.delivery.outbox import send
from federation.delivery.party import Party
from federation.delivery.quarantine import (
    APPLICATION_REASONS,
    DISCARDED,
    RELEASED,
    get_held,
    hold,
    resolve,
)
from federation.envelope import Envelope, Rejected, format_time, open_envelope, parse_time
from federation.keys import utcnow
from federation.transport import UNPREPARED, Bus, Delivery, Pipeline
from shared.db.session import transaction
from shared.errors import Conflict

logger = logging.getLogger(__name__)

ACK = "partynet.bus.ack.v1"
RESEND = "partynet.bus.resend.v1"
PING = "partynet.bus.ping.v1"
#: Messages that change the key store: the key ring is reloaded once they are applied.
KEY_MESSAGES = frozenset({"partynet.keys.revoked.v1"})

#: Refusals that a newer key store may lift (a new key, a key confirmed again by a directory):
#: the consumer reloads the keys once, behind the store's timer, and tries again.
STALE_KEYS = frozenset({"unknown_key", "expired_key"})
#: Batches at least this big are verified on two threads (see `Consumer._open_all`).
PARALLEL_OPEN_FROM = 32
#: An operator's release lifts the clock window (the signature and key checks stay).
RELEASE_SKEW = dt.timedelta(days=3650)
#: Errors that mean "try again later", not "this message is bad".
TRANSIENT: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
)


class Outcome(enum.StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    parked = "parked"
    quarantined = "quarantined"
    control = "control"


class _Careful(Exception):
    """The fast pass of a batch failed somewhere: redo it message by message."""


class _HandlerFailed(Exception):
    def __init__(self, envelope: Envelope, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.envelope, self.reason, self.detail = envelope, reason, detail


def envelope_record(envelope: Envelope) -> bytes:
    """A verified envelope as stored in the quarantine (no signatures: it was checked)."""
    return encode_canonical({
        "id": envelope.id, "type": envelope.type, "source": envelope.source,
        "destination": envelope.destination, "time": format_time(envelope.time),
        **({"tenant": envelope.tenant} if envelope.tenant is not None else {}),
        **({"sequence": envelope.sequence} if envelope.sequence is not None else {}),
        "key_id": envelope.key_id, "data": envelope.data})


@dataclasses.dataclass
class _Batch:
    """What one transaction has seen so far.

    The stream rows are locked for the whole transaction, so what the batch does to a stream
    is kept here and written once, by `_finish`, instead of one UPDATE per message (every
    handler's flush would otherwise write the stream row and the inbox row again): the
    applied position, the last time each peer was heard, the inbox rows of sequenced
    messages (one executemany: a single round trip) and the sequences parked per peer (read
    once per peer, not looked up per message).
    """

    now: dt.datetime
    skip: dict[str, _HandlerFailed]
    #: Flush after each handler, so that a failure is pinned on its message. The fast pass
    #: (careful=False) leaves the handlers' writes to one flush at the end (SQLAlchemy writes
    #: many new ORM objects with one statement, instead of a round trip each); any failure in
    #: it sends the whole batch round again, carefully.
    careful: bool = True
    streams: dict[str, Stream] = dataclasses.field(default_factory=dict)
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    applied: dict[str, int] = dataclasses.field(default_factory=dict)
    heard: set[str] = dataclasses.field(default_factory=set)
    #: (source, message_id, type, sequence); all received at `now`.
    inbox: list[tuple[str, str, str, int]] = dataclasses.field(default_factory=list)
    parked: dict[str, set[int]] = dataclasses.field(default_factory=dict)


class Prepared(NamedTuple):
    """A message as `Consumer.prepare_batch` left it: verified (or refused) with the key store
    as it was at `keys_epoch`. (A tuple: one is made per message.)"""

    item: Envelope | Rejected
    keys_epoch: int


class Consumer:
    def __init__(self, party: Party, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.party = party
        self.clock = clock
        # Verifies half of a big batch (its thread starts with the first one).
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="partynet-verify")
        #: Counts the key store's reloads after key messages (see apply_batch).
        self._keys_epoch = 0
        #: Peers whose stream row exists (a hint: see _lock_streams).
        self._known_streams: set[str] = set()

    # --- entry points ------------------------------------------------------------------

    def handle(self, body: bytes) -> Outcome:
        return self.handle_batch([body])[0]

    def handle_batch(self, bodies: Sequence[bytes]) -> list[Outcome]:
        """Receive several messages in one transaction (the fast path of a busy consumer)."""
        return self.apply_batch(bodies, self.prepare_batch(bodies))

    def prepare_batch(self, bodies: Sequence[bytes]) -> list[Prepared]:
        """Verify and decode messages; no database write (`run` does it on the thread that
        reads the broker while the previous batch commits)."""
        epoch = self._keys_epoch  # before the ring is read: a reload in between shows
        return [Prepared(item, epoch) for item in self._open_all(bodies, self.clock())]

    def apply_batch(self, bodies: Sequence[bytes], prepared: Sequence[Prepared | None]
                    ) -> list[Outcome]:
        """Apply what `prepare_batch` verified, in one transaction; None: not verified yet.
        A message verified before a key message of an earlier batch changed the key store
        is verified again: a revocation counts from the next message on, even one already
        prepared."""
        now = self.clock()
        epoch = self._keys_epoch
        stale = [i for i, p in enumerate(prepared) if p is None or p.keys_epoch != epoch]
        fresh = dict(zip(stale, self._open_all([bodies[i] for i in stale], now), strict=True))
        opened = [p.item if p is not None and i not in fresh else fresh[i]
                  for i, p in enumerate(prepared)]
        skip: dict[str, _HandlerFailed] = {}
        careful = len(bodies) == 1
        while True:
            batch = _Batch(now=now, skip=skip, careful=careful)
            try:
                with transaction(self.party.db) as session:
                    self._lock_streams(session, batch, sorted(
                        {e.source for e in opened if isinstance(e, Envelope)}))
                    for body, item in zip(bodies, opened, strict=True):
                        batch.outcomes.append(self._receive(session, batch, body, item))
                    self._finish(session, batch)
                    session.flush()  # inside the try: a deferred write's failure is caught
                if any(isinstance(e, Envelope) and e.type in KEY_MESSAGES for e in opened):
                    self.party.keys.reload()  # a revocation counts from the next message on
                    self._keys_epoch += 1  # after the reload: see prepare_batch
                return batch.outcomes
            except _HandlerFailed as failure:
                # Rolled back: do it all again with the poison message set aside.
                skip[failure.envelope.id] = failure
            except TRANSIENT:
                raise
            except Exception:
                if careful:
                    raise
                careful = True  # rolled back: find out which message it was, if any

    def run(self, bus: Bus, *, stop: threading.Event | None = None,
            idle_timeout: float | None = None, batch_size: int = 200) -> None:
        """Consume this party's queue until stopped, pipelined: the broker is read and the
        next batch verified on this thread while a worker thread applies and commits the
        current one; the transport acks a batch only after its commit.

        A database outage is not the message's fault: wait (backing off up to 5 s) before
        letting the transport redeliver, so the delivery limit is not spent in milliseconds.
        Were it spent anyway, the sender retransmits what we never acknowledged.
        """
        failures = 0

        def guarded(work: Callable[[], list[Outcome]]) -> list[Outcome]:
            nonlocal failures
            try:
                outcomes = work()
            except TRANSIENT as exc:
                failures += 1
                logger.warning("database unavailable", extra={"error": repr(exc)[:300]})
                (stop or threading.Event()).wait(min(0.1 * 2 ** failures, 5.0))
                raise
            failures = 0
            return outcomes

        def prepare(deliveries: list[Delivery]) -> list[Prepared]:
            return self.prepare_batch([d.body for d in deliveries])

        def apply(deliveries: list[Delivery], items: list[Any]) -> None:
            bodies = [d.body for d in deliveries]
            prepared = [None if item is UNPREPARED else item for item in items]
            self._log_many(deliveries, guarded(lambda: self.apply_batch(bodies, prepared)))

        def one(delivery: Delivery) -> None:  # a batch failed: its messages one by one
            self._log_many([delivery], guarded(lambda: self.handle_batch([delivery.body])))

        bus.consume(self.party.id, one, stop=stop, idle_timeout=idle_timeout,
                    # Twice the batch: one batch applying, the next one read and verified.
                    prefetch=2 * max(batch_size, 1),
                    pipeline=Pipeline(prepare, apply), batch_size=batch_size)

    def _open_all(self, bodies: Sequence[bytes], now: dt.datetime) -> list[Envelope | Rejected]:
        """Verify a batch, a big one on two threads: libsodium releases the GIL while it checks
        a signature (about a third of the work of a message), so a second core helps."""
        if len(bodies) < PARALLEL_OPEN_FROM:
            return [self.open(body, now) for body in bodies]
        half = len(bodies) // 2
        first = self._helper.submit(lambda: [self.open(body, now) for body in bodies[:half]])
        second = [self.open(body, now) for body in bodies[half:]]
        return first.result() + second

    def open(self, body: bytes, now: dt.datetime, *, skew: dt.timedelta | None = None
             ) -> Envelope | Rejected:
        """Verify a message; an unknown or expired key reloads the keys once (rate-limited) and
        retries, so a worker picks up what a directory refresh stored without a restart."""
        keys = self.party.keys
        for attempt in (1, 2):
            try:
                return open_envelope(body, keyring=keys.ring(), me=self.party.id, now=now,
                                     skew=skew or self.party.timing.skew)
            except Rejected as rejected:
                if attempt == 1 and rejected.reason in STALE_KEYS and keys.maybe_reload():
                    continue
                return rejected
        raise AssertionError("unreachable")

    def release(self, entry_id: int, *, by: str, note: str = "") -> Outcome:
        """An operator lets a quarantined message through: checked again without the clock
        window, then received as usual (so it is still applied at most once, in its turn)."""
        now = self.clock()
        try:
            with transaction(self.party.db) as session:
                entry = get_held(session, entry_id)
                batch = _Batch(now=now, skip={})
                if entry.reason in APPLICATION_REASONS:
                    # Verified when it arrived and already counted on its stream: re-run only.
                    self._apply(session, batch, _from_record(entry.body))
                    outcome = Outcome.applied
                else:
                    # Fresh keys, read in this unit of work (the operator may just have
                    # added the missing one; on SQLite another connection would wait).
                    self.party.keys.reload(session)
                    item = self.open(entry.body, now, skew=RELEASE_SKEW)
                    if isinstance(item, Rejected):
                        raise Conflict(f"Still refused: {item.reason} ({item.detail}).")
                    outcome = self._receive(session, batch, entry.body, item)
                    if outcome == Outcome.quarantined:  # e.g. still not its tenant: roll back
                        raise Conflict(f"Still refused: {entry.reason}.")
                self._finish(session, batch)
                resolve(entry, RELEASED, by=by, note=note, now=now)
                return outcome
        except _HandlerFailed as failure:
            raise Conflict(f"Still failing: {failure.detail}") from None

    def discard(self, entry_id: int, *, by: str, note: str = "") -> None:
        with transaction(self.party.db) as session:
            resolve(get_held(session, entry_id), DISCARDED, by=by, note=note, now=self.clock())

    # --- one message ---------------------------------------------------------------------

    def _receive(self, session: Session, batch: _Batch, body: bytes,
                 item: Envelope | Rejected) -> Outcome:
        if isinstance(item, Rejected):
            hold(session, body, item.reason, item.detail, source=item.source,
                 message_id=item.envelope_id, type=item.message_type, tenant=item.tenant,
                 now=batch.now)
            return Outcome.quarantined
        envelope = item
        if self.party.authorize is not None:
            try:
                self.party.authorize(session, envelope)
            except Rejected as rejected:
                hold(session, body, rejected.reason, rejected.detail, source=envelope.source,
                     message_id=envelope.id, type=envelope.type, tenant=envelope.tenant,
                     now=batch.now)
                return Outcome.quarantined
        stream = self._stream(session, batch, envelope.source)
        batch.heard.add(stream.peer)
        if stream.blocked_until is not None:  # it speaks, so it is reachable again
            self._unblock(session, stream, batch.now)
        if envelope.sequence is None:
            return self._unsequenced(session, batch, stream, envelope)
        return self._sequenced(session, batch, stream, envelope)

    def _unsequenced(self, session: Session, batch: _Batch, stream: Stream,
                     envelope: Envelope) -> Outcome:
        if session.get(InboxMessage, (envelope.source, envelope.id)) is not None:
            return Outcome.duplicate
        session.add(InboxMessage(source=envelope.source, message_id=envelope.id,
                                 type=envelope.type, received_at=batch.now))
        if envelope.type == ACK:
            self._on_ack(session, stream, envelope.data["up_to"])
            return Outcome.control
        if envelope.type == RESEND:
            self._on_resend(session, stream, envelope.data["from_sequence"], batch.now)
            return Outcome.control
        self._apply(session, batch, envelope)
        return Outcome.applied

    def _sequenced(self, session: Session, batch: _Batch, stream: Stream,
                   envelope: Envelope) -> Outcome:
        sequence = envelope.sequence
        assert sequence is not None
        position = self._position(batch, stream)
        if sequence <= position:
            stream.in_ack_due = True  # the sender missed our ack: say it again
            return Outcome.duplicate
        if sequence > position + 1:
            self._park(session, batch, stream, envelope)
            return Outcome.parked
        self._apply_in_turn(session, batch, stream, envelope)
        parked = batch.parked[stream.peer]
        while (following := self._position(batch, stream) + 1) in parked:
            row = session.get(ParkedMessage, (stream.peer, following))
            assert row is not None, "parked rows change only under the stream's lock"
            self._apply_in_turn(session, batch, stream, _unpark(row, self.party.id))
            session.delete(row)
            parked.discard(following)
        return Outcome.applied

    def _apply_in_turn(self, session: Session, batch: _Batch, stream: Stream,
                       envelope: Envelope) -> None:
        sequence = envelope.sequence
        assert sequence is not None
        batch.inbox.append((envelope.source, envelope.id, envelope.type, sequence))
        self._apply(session, batch, envelope)
        batch.applied[stream.peer] = sequence

    def _apply(self, session: Session, batch: _Batch, envelope: Envelope) -> None:
        failure = batch.skip.get(envelope.id)
        if failure is not None:
            hold(session, envelope_record(envelope), failure.reason, failure.detail,
                 source=envelope.source, message_id=envelope.id, type=envelope.type,
                 tenant=envelope.tenant, now=batch.now)
            return
        handler = self.party.handlers.get(envelope.type)
        if handler is None:
            if envelope.type == PING:
                return  # diagnostic traffic: receiving it is the whole effect
            raise _HandlerFailed(envelope, "no_handler",
                                 f"{self.party.id} has no handler for {envelope.type}")
        try:
            handler(session, envelope)
            if batch.careful:
                session.flush()
        except TRANSIENT:
            raise
        except Exception as exc:
            if not batch.careful:
                raise _Careful from exc
            logger.warning("handler failed", extra={"message_id": envelope.id,
                                                    "type": envelope.type, "error": repr(exc)})
            raise _HandlerFailed(envelope, "handler_failed", f"{type(exc).__name__}: {exc}"[:1000]
                                 ) from exc

    # --- stream bookkeeping ----------------------------------------------------------------

    def _lock_streams(self, session: Session, batch: _Batch, peers: list[str]) -> None:
        """Lock the batch's streams in one order (the relay's too: no deadlocks). Peers whose
        stream rows exist (they are never deleted) are locked with one query and their parked
        sequences read with another, instead of two queries a peer; a new peer's row is
        created, so all of them go one by one then."""
        if len(peers) > 1 and self._known_streams.issuperset(peers):
            for stream in session.scalars(sa.select(Stream).where(Stream.peer.in_(peers))
                                          .order_by(Stream.peer).with_for_update()):
                batch.streams[stream.peer] = stream
                batch.parked[stream.peer] = set()
            for source, sequence in session.execute(
                    sa.select(ParkedMessage.source, ParkedMessage.sequence)
                    .where(ParkedMessage.source.in_(peers))):
                batch.parked.setdefault(source, set()).add(sequence)
        for peer in peers:
            self._stream(session, batch, peer)  # any not locked above, in order
        self._known_streams.update(peers)

    def _stream(self, session: Session, batch: _Batch, peer: str) -> Stream:
        stream = batch.streams.get(peer)
        if stream is None:
            stream = lock_stream(session, peer)
            batch.streams[peer] = stream
            batch.parked[peer] = set(session.scalars(
                sa.select(ParkedMessage.sequence).where(ParkedMessage.source == peer)))
        return stream

    @staticmethod
    def _position(batch: _Batch, stream: Stream) -> int:
        """Applied up to here, this batch included."""
        return batch.applied.get(stream.peer, stream.in_applied_up_to)

    @staticmethod
    def _finish(session: Session, batch: _Batch) -> None:
        """Write what the batch did to its streams and the inbox, once, before the commit."""
        for peer in batch.heard:
            batch.streams[peer].last_received_at = batch.now
        for peer, position in batch.applied.items():
            stream = batch.streams[peer]
            stream.in_applied_up_to, stream.in_ack_due = position, True
        if batch.inbox:
            _insert_inbox(session, batch.inbox, batch.now)
            batch.inbox = []

    def _park(self, session: Session, batch: _Batch, stream: Stream,
              envelope: Envelope) -> None:
        assert envelope.sequence is not None
        now = batch.now
        parked = batch.parked[stream.peer]
        if envelope.sequence not in parked:
            session.add(ParkedMessage(
                source=stream.peer, sequence=envelope.sequence, message_id=envelope.id,
                type=envelope.type, tenant=envelope.tenant, time=envelope.time,
                key_id=envelope.key_id, data=envelope.data, received_at=now))
            parked.add(envelope.sequence)
        asked = stream.in_resend_asked_at
        if asked is None or now - asked >= self.party.timing.resend_interval:
            send(session, RESEND, destination=stream.peer, sequenced=False,
                 data={"from_sequence": self._position(batch, stream) + 1})
            stream.in_resend_asked_at = now

    def _on_ack(self, session: Session, stream: Stream, up_to: int) -> None:
        up_to = min(up_to, stream.out_sequence)  # never more than we sent
        if up_to <= stream.out_acked_up_to:
            return
        session.execute(sa.delete(OutboxMessage).where(
            OutboxMessage.destination == stream.peer, OutboxMessage.sequenced.is_(True),
            OutboxMessage.sequence <= up_to).execution_options(synchronize_session=False))
        stream.out_acked_up_to = up_to

    def _on_resend(self, session: Session, stream: Stream, from_sequence: int,
                   now: dt.datetime) -> None:
        session.execute(sa.update(OutboxMessage).where(
            OutboxMessage.destination == stream.peer, OutboxMessage.sequenced.is_(True),
            OutboxMessage.sequence >= from_sequence,
            OutboxMessage.sequence < from_sequence + self.party.timing.window,
        ).values(next_attempt_at=now).execution_options(synchronize_session=False))

    def _unblock(self, session: Session, stream: Stream, now: dt.datetime) -> None:
        stream.blocked_until, stream.block_interval = None, 0
        session.execute(sa.update(OutboxMessage).where(
            OutboxMessage.destination == stream.peer, OutboxMessage.next_attempt_at > now,
        ).values(next_attempt_at=now).execution_options(synchronize_session=False))

    # --- logging -------------------------------------------------------------------------

    @staticmethod
    def _log_many(deliveries: Sequence[Delivery], outcomes: list[Outcome]) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            for delivery, outcome in zip(deliveries, outcomes, strict=True):
                logger.debug("received", extra={"message_id": delivery.message_id,
                                                "outcome": outcome.value})


def lock_stream(session: Session, peer: str) -> Stream:
    """The stream row with `peer`, created if new, locked until the transaction ends."""
    query = sa.select(Stream).where(Stream.peer == peer).with_for_update()
    stream = session.scalars(query).first()
    if stream is None:
        session.execute(_insert_ignore(session, Stream, {"peer": peer}))
        stream = session.scalars(query).one()
    return stream


_INBOX = InboxMessage.__table__
#: PostgreSQL: a batch's inbox rows as one JSON array of [source, message_id, type, sequence]
#: arrays, one short statement whatever the batch size. psycopg dumps array parameters element
#: by element in Python (four `unnest` arrays cost 5.1 us of CPU a row, a multi-row VALUES
#: more: psycopg parses such long statements again every time), while `json.dumps` of the
#: rows is one C call (1.4 us a row, building the rows included). The columns are not cast:
#: a value too long for its column is an error, as with any INSERT. The batch's time is one
#: parameter.
_INBOX_FROM_JSON = sa.text(
    f"INSERT INTO {_INBOX.name} (source, message_id, type, sequence, received_at) "
    "SELECT r ->> 0, r ->> 1, r ->> 2, CAST(r ->> 3 AS BIGINT), :received_at "
    "FROM json_array_elements(CAST(:rows AS json)) AS r"
).bindparams(sa.bindparam("received_at", type_=_INBOX.c.received_at.type))
_JSON_ROWS = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _insert_inbox(session: Session, rows: list[tuple[str, str, str, int]],
                  received_at: dt.datetime) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_INBOX_FROM_JSON, {"rows": _JSON_ROWS.encode(rows),
                                           "received_at": received_at})
    else:  # SQLite: executemany of a prepared INSERT is already one cheap call
        session.execute(sa.insert(_INBOX), [
            {"source": source, "message_id": message_id, "type": type_, "sequence": sequence,
             "received_at": received_at} for source, message_id, type_, sequence in rows])


def _insert_ignore(session: Session, model: Any, values: dict[str, Any]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model).values(**values).on_conflict_do_nothing()


def _from_record(record: bytes) -> Envelope:
    obj = decode_strict(record)
    return Envelope(id=obj["id"], type=obj["type"], source=obj["source"],
                    destination=obj["destination"], time=parse_time(obj["time"]),
                    tenant=obj.get("tenant"), sequence=obj.get("sequence"), data=obj["data"],
                    key_id=obj.get("key_id"))


def _unpark(parked: ParkedMessage, me: str) -> Envelope:
    return Envelope(id=parked.message_id, type=parked.type, source=parked.source,
                    destination=me, time=parked.time, tenant=parked.tenant,
                    sequence=parked.sequence, data=parked.data, key_id=parked.key_id)
