"""The consume loop: deliver, ack only after the handler returned, survive connection loss.

A session is one connection: declare (or check) the party's topology, set the prefetch,
consume, and drain until told to stop. Connection-level failures end the session and a new
one starts after a bounded, jittered backoff; what was delivered but not acked comes back
from the broker (RabbitMQ requeues it, the embedded broker's lease expires or is released).
Permission and missing-topology errors are not retried: they need an operator.
"""

from __future__ import annotations

import logging
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


class ConsumeLoop:
    def __init__(self, bus: Bus, party: str, handler: Callable[[Delivery], None], *,
                 prefetch: int, stop: threading.Event | None, idle_timeout: float | None,
                 batch: Callable[[list[Delivery]], None] | None, batch_size: int) -> None:
        self.bus = bus
        self.options = bus.options
        self.party = party
        self.handler = handler
        self.prefetch = prefetch
        self.stop = stop or threading.Event()
        self.idle_timeout = idle_timeout
        self.batch = batch
        self.batch_size = batch_size
        self._pending: list[Message] = []
        self._last_activity = monotonic()
        self._failures = 0

    def run(self) -> None:
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
                self._pending.clear()
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
        return (self.idle_timeout is not None
                and monotonic() - self._last_activity >= self.idle_timeout)

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
        # Short ticks: `stop` is noticed within a fraction of a second, heartbeats in time.
        tick = min(0.2, self.options.heartbeat / 4) if self.options.heartbeat else 0.2
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

    # -- delivery ------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        self._last_activity = monotonic()
        if self.batch is None:
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
