"""The consume loop: deliver, ack only after the handler returned, survive connection loss.

A session is one connection: declare (or check) the party's topology, set the prefetch,
consume, and drain until told to stop. Connection-level failures end the session and a new
one starts after a bounded, jittered backoff; what was delivered but not acked comes back
from the broker (RabbitMQ requeues it, the embedded broker's lease expires or is released).
Permission and missing-topology errors are not retried: they need an operator.

With a `Pipeline` the work of a batch is split in two stages that overlap: while a worker
thread applies batch N (the database work, which waits on the server most of the time), this
thread keeps reading the broker and prepares batch N+1 (verification, which releases the GIL).
The kombu channel stays on this thread (channels are not thread-safe): the worker only says
which messages may go, and this thread acks them, after the worker returned, so nothing is
acked before its commit. At most two batches are in flight (one applying, one prepared).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import sqlite3
import threading
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import RecoverableChannelError
from kombu import Consumer, Queue
from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.exceptions import OperationalError
from kombu.message import Message

from federation.transport.deliveries import FAILURES, Delivery, to_delivery
from federation.transport.errors import TransportError
from federation.transport.topology import declare_topology, queue_name

if TYPE_CHECKING:
    from kombu import Connection

    from federation.transport.bus import Bus

logger = logging.getLogger(__name__)

# Worth a new connection: the broker went away, closed us, or the database was locked.
RECOVERABLE: tuple[type[BaseException], ...] = (
    OSError, AmqpConnectionError, RecoverableChannelError, KombuConnectionError,
    OperationalError, sqlite3.OperationalError,
)
#: While a batch is applying, the broker is read with this timeout: the worker's result is
#: noticed (and acked) at most this late when nothing else arrives.
_POLL_WHILE_APPLYING = 0.002
#: Messages prepared at a time: between two chunks the worker's result is looked at, and a
#: worker that finished gets what is prepared so far instead of waiting for a whole batch.
_PREPARE_CHUNK = 64


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """A batch consumer in two overlapping stages (see the module's docstring).

    `prepare(deliveries)` runs on the consuming thread as messages arrive and returns one item
    per delivery (a batch may be prepared in several chunks, whose lists are joined);
    `apply(deliveries, prepared)` runs on a worker thread, one batch at a time, in the order
    the messages arrived. apply returns -> the batch is acked; raises -> each message of it
    goes through the consume's `handler` alone, on the worker thread, so that one poison
    message cannot take the batch down with it.

    A worker that is free takes what is prepared and, up to the batch size, what has arrived
    but was not prepared yet: those items are `UNPREPARED`, and apply prepares them itself
    (so the two threads share the preparing when the consuming thread falls behind). Items
    whose prepare raised are `UNPREPARED` too.
    """

    prepare: Callable[[list[Delivery]], list[Any]]
    apply: Callable[[list[Delivery], list[Any]], None]


@dataclasses.dataclass
class _Job:
    messages: list[Message]
    deliveries: list[Delivery]
    prepared: list[Any]


class _Applier:
    """The worker thread of a pipelined consume: applies one job at a time and reports, for
    each, None (all applied: ack them all), a list of flags (handled one by one: ack the ones
    that went through, reject the others for redelivery) or the exception that escaped."""

    def __init__(self, pipeline: Pipeline, handler: Callable[[Delivery], None]) -> None:
        self.pipeline = pipeline
        self.handler = handler
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[list[bool] | BaseException | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._run, name="partynet-apply", daemon=True)
        self._thread.start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def result(self, timeout: float) -> list[bool] | BaseException | _Pending | None:
        try:
            return self._results.get(timeout=timeout) if timeout > 0 else (
                self._results.get_nowait())
        except queue.Empty:
            return PENDING

    def close(self, timeout: float | None = None) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._results.put(self._apply(job))
            except BaseException as exc:  # the consuming thread raises it
                self._results.put(exc)

    def _apply(self, job: _Job) -> list[bool] | None:
        try:
            self.pipeline.apply(job.deliveries, job.prepared)
            return None
        except Exception:
            logger.exception("batch of %d failed; handling its messages one by one",
                             len(job.deliveries))
        done = []
        for delivery in job.deliveries:
            try:
                self.handler(delivery)
            except Exception:
                logger.exception("handler failed on %s (delivery %d); rejecting for "
                                 "redelivery", delivery.message_id, delivery.delivery_count)
                done.append(False)
            else:
                done.append(True)
        return done


class _Pending:
    """No result yet."""


class _Unprepared:
    """An item `Pipeline.apply` has to prepare itself."""

    def __repr__(self) -> str:
        return "UNPREPARED"


PENDING = _Pending()
UNPREPARED = _Unprepared()


class ConsumeLoop:
    def __init__(self, bus: Bus, party: str, handler: Callable[[Delivery], None], *,
                 prefetch: int, stop: threading.Event | None, idle_timeout: float | None,
                 batch: Callable[[list[Delivery]], None] | None, batch_size: int,
                 pipeline: Pipeline | None = None) -> None:
        self.bus = bus
        self.options = bus.options
        self.party = party
        self.handler = handler
        self.prefetch = prefetch
        self.stop = stop or threading.Event()
        self.idle_timeout = idle_timeout
        self.batch = batch
        self.batch_size = batch_size
        self.pipeline = pipeline
        self._pending: list[Message] = []
        self._applier: _Applier | None = None
        # Pipelined: the batch the worker applies, and the next one, prepared.
        self._applying: list[Message] | None = None
        self._ready = _Job([], [], [])
        self._last_activity = monotonic()
        self._failures = 0

    def run(self) -> None:
        if self.pipeline is not None:
            self._applier = _Applier(self.pipeline, self.handler)
        try:
            self._run()
        finally:
            if self._applier is not None:
                # A batch still applying finishes (its transaction commits or rolls back)
                # but is not acked: the broker gives it again, and the inbox dedups it.
                self._applier.close(timeout=60)

    def _run(self) -> None:
        while not self._should_stop():
            conn = self.bus.new_connection(consumer=True)
            try:
                self._session(conn)  # returns when told to stop, or idle
                _release(conn)
                return
            except RECOVERABLE as exc:
                _collect(conn)
                self._failures += 1
                delay = self._backoff(self._failures)
                logger.warning("consumer of %s lost its connection (%r); reconnecting in %.1fs",
                               self.party, exc, delay)
                self._abandon()
                if self.stop.wait(delay):
                    return
            except FAILURES as exc:
                _collect(conn)
                raise TransportError(f"cannot consume {queue_name(self.party)}: {exc!r}") from exc
            except BaseException:
                _collect(conn)
                raise

    def _backoff(self, failures: int) -> float:
        """0.1 s doubling, capped, with jitter so restarted workers do not stampede."""
        cap = self.options.reconnect_interval_max
        return min(cap, 0.1 * 2 ** min(failures - 1, 16)) * random.uniform(0.8, 1.2)

    def _should_stop(self) -> bool:
        if self.stop.is_set():
            return True
        return (self.idle_timeout is not None and not self._in_flight()
                and monotonic() - self._last_activity >= self.idle_timeout)

    def _in_flight(self) -> bool:
        return self._applying is not None or bool(self._ready.messages or self._pending)

    def _abandon(self) -> None:
        """The connection is gone, and with it every delivery tag: nothing of it is acked.
        A batch still applying is waited for (and its result dropped), so batches never
        overlap; what it committed comes back as duplicates."""
        if self._applying is not None and self._applier is not None:
            while isinstance(self._applier.result(1.0), _Pending):
                pass
        self._applying = None
        self._ready = _Job([], [], [])
        self._pending.clear()

    def _session(self, conn: Connection) -> None:
        conn.ensure_connection(max_retries=0, timeout=self.options.connect_timeout)
        channel = conn.channel()
        declare_topology(channel, [self.party], declare=self.options.declare,
                         delivery_limit=self.options.delivery_limit)
        queue = Queue(queue_name(self.party), no_declare=True)
        consumer = Consumer(channel, queues=[queue], no_ack=False, auto_declare=False,
                            on_message=self._on_message, prefetch_count=self.prefetch)
        consumer.consume()
        self._failures = 0
        # Idle counts from when we listen: connecting and declaring (slow on a loaded
        # machine) must not use up an idle timeout before the first message could arrive.
        self._last_activity = monotonic()
        # Short ticks: `stop` is noticed within a fraction of a second, heartbeats in time.
        tick = min(0.2, self.options.heartbeat / 4) if self.options.heartbeat else 0.2
        if self._applier is not None:
            self._pipelined(conn, tick)
            return
        while True:
            if self._should_stop():
                return
            timeout = tick
            if self.idle_timeout is not None:
                remaining = self.idle_timeout - (monotonic() - self._last_activity)
                timeout = max(0.0, min(tick, remaining))
            try:
                conn.drain_events(timeout=timeout)
            except TimeoutError:
                pass
            else:
                if self.batch is not None:
                    self._collect_batch(conn)
            conn.heartbeat_check()

    def _pipelined(self, conn: Connection, tick: float) -> None:
        """The session loop with a Pipeline: settle what the worker finished, hand it the
        prepared batch, read and prepare the next; wait for the worker when both are full."""
        applier = self._applier
        assert applier is not None and self.pipeline is not None
        while True:
            if self._applying is not None:
                full = len(self._ready.messages) >= self.batch_size or self.stop.is_set()
                result = applier.result(tick if full else 0)
                if not isinstance(result, _Pending):
                    applying, self._applying = self._applying, None
                    self._settle(applying, result)
                    self._last_activity = monotonic()  # idle counts from the last work done
            if self.stop.is_set():
                if self._applying is None:
                    return  # what is prepared or pending is not acked: it comes back
                conn.heartbeat_check()
                continue
            if self._applying is None and (self._ready.messages or self._pending):
                self._hand_over(conn)
            if len(self._ready.messages) < self.batch_size:
                if self._should_stop():  # idle, nothing in flight
                    return
                self._read(conn, tick)
            else:  # both stages full: keep the connection serviced while the worker works
                self._drain_now(conn, len(self._pending) + 1)
            conn.heartbeat_check()

    def _hand_over(self, conn: Connection) -> None:
        """The worker is free: it gets what is prepared, and what arrived but is not (it
        prepares that itself), up to a batch."""
        assert self._applier is not None
        job, self._ready = self._ready, _Job([], [], [])
        room = self.batch_size - len(job.messages)
        self._drain_now(conn, room)
        extra, self._pending = self._pending[:room], self._pending[room:]
        job.messages.extend(extra)
        job.deliveries.extend(to_delivery(message) for message in extra)
        job.prepared.extend([UNPREPARED] * len(extra))
        self._applying = job.messages
        self._applier.submit(job)

    def _read(self, conn: Connection, tick: float) -> None:
        """Wait for messages (briefly while a batch applies), take what is waiting up to the
        batch's room, and prepare it."""
        room = min(self.batch_size - len(self._ready.messages), _PREPARE_CHUNK)
        if not self._pending:
            timeout = tick if self._applying is None else _POLL_WHILE_APPLYING
            if self.idle_timeout is not None and self._applying is None:
                remaining = self.idle_timeout - (monotonic() - self._last_activity)
                timeout = max(0.0, min(timeout, remaining))
            try:
                conn.drain_events(timeout=timeout)
            except TimeoutError:
                return
        self._drain_now(conn, room)
        chunk, self._pending = self._pending[:room], self._pending[room:]
        if not chunk:
            return
        deliveries = [to_delivery(message) for message in chunk]
        assert self.pipeline is not None
        try:
            prepared = self.pipeline.prepare(deliveries)
        except Exception:  # e.g. the database, for fresh keys: apply tries again
            logger.exception("preparing %d messages failed; apply will", len(chunk))
            prepared = [UNPREPARED] * len(chunk)
        if len(prepared) != len(deliveries):
            raise ValueError("Pipeline.prepare must return one item per delivery")
        self._ready.messages.extend(chunk)
        self._ready.deliveries.extend(deliveries)
        self._ready.prepared.extend(prepared)

    def _drain_now(self, conn: Connection, until: int) -> None:
        """Read what the broker already sent, without waiting, until `until` are pending."""
        while len(self._pending) < until:
            try:
                conn.drain_events(timeout=0)
            except TimeoutError:
                break

    def _settle(self, messages: list[Message], result: list[bool] | BaseException | None
                ) -> None:
        """Ack what the worker committed; reject (for redelivery) what it could not apply."""
        if isinstance(result, BaseException):
            raise result
        if result is None:
            messages[-1].ack(multiple=True)
            return
        for message, done in zip(messages, result, strict=True):
            if done:
                message.ack()
            else:
                message.reject(requeue=True)

    # -- delivery ------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        self._last_activity = monotonic()
        if self.batch is None and self.pipeline is None:
            self._handle(message, to_delivery(message))
        else:
            self._pending.append(message)

    def _handle(self, message: Message, delivery: Delivery) -> None:
        try:
            self.handler(delivery)
        except Exception:
            logger.exception("handler failed on %s (delivery %d); rejecting for redelivery",
                             delivery.message_id, delivery.delivery_count)
            message.reject(requeue=True)
            return
        message.ack()

    def _collect_batch(self, conn: Connection) -> None:
        """Take what is already waiting, up to batch_size, then hand it over at once."""
        while len(self._pending) < self.batch_size:
            try:
                conn.drain_events(timeout=0)
            except TimeoutError:
                break
        pending, self._pending = self._pending, []
        if not pending:
            return
        deliveries = [to_delivery(message) for message in pending]
        assert self.batch is not None
        try:
            self.batch(deliveries)
        except Exception:
            logger.exception("batch of %d failed; handling its messages one by one",
                             len(pending))
            for message, delivery in zip(pending, deliveries, strict=True):
                self._handle(message, delivery)
            return
        pending[-1].ack(multiple=True)


def _release(conn: Any) -> None:
    try:
        conn.release()
    except FAILURES as exc:
        logger.debug("ignoring error while closing a consumer connection: %r", exc)
        _collect(conn)


def _collect(conn: Any) -> None:
    try:
        conn.collect()
    except FAILURES as exc:
        logger.debug("ignoring error while dropping a consumer connection: %r", exc)
