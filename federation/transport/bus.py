"""The Bus: publish with confirms, consume with acks after the handler, on any broker.

One code path for RabbitMQ and the embedded broker (kombu Producer/Consumer on either); only
publish_many differs, because RabbitMQ confirms a pipelined window while the embedded broker
commits a batch in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Producer, Queue

from federation.transport.confirms import ConfirmTracker
from federation.transport.connections import Connect, connection_factory
from federation.transport.consume import RECOVERABLE, ConsumeLoop, Pipeline
from federation.transport.deliveries import FAILURES, Delivery, to_delivery
from federation.transport.errors import (
    BrokerUnavailable,
    PublishError,
    TransportError,
    Unroutable,
)
from federation.transport.options import BusOptions
from federation.transport.topology import (
    DECLARE_CHANNELS,
    DECLARE_WINDOW,
    EXCHANGE,
    check_party,
    dead_queue_name,
    declare_topology,
    pipeline_topology,
    queue_name,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"


def _check_message(destination: str, body: bytes, message_id: str) -> None:
    check_party(destination)
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("body must be bytes")
    if not message_id or not isinstance(message_id, str):
        raise ValueError("message_id must be a non-empty string")


class Bus:
    """A connection to the federation bus; thread-safe for publishing, one consume per call."""

    def __init__(self, url: str, options: BusOptions, connect: Connect) -> None:
        self.url = url
        self.options = options
        self._connect = connect
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._tracker: ConfirmTracker | None = None
        self._returned: dict[str, str] = {}
        self._declared: set[str] = set()
        self._closed = False

    def __repr__(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"<Bus {scheme}://{rest.rsplit('@', 1)[-1]}>"

    # -- topology ------------------------------------------------------------------------

    def declare(self, parties: Iterable[str]) -> None:
        """Idempotent; with declare="passive" it checks the provisioned topology instead.

        BrokerUnavailable when the broker cannot be reached (worth waiting for); any other
        TransportError needs an operator (permissions, missing or mismatched topology).
        """
        parties = [check_party(p) for p in parties]
        with self._lock:
            if self.options.declare is False:
                return
            try:
                conn = self._publisher()
                if conn.transport.driver_type == "amqp" and len(parties) > DECLARE_WINDOW:
                    # Many parties (a benchmark, a provisioning script): pipelined on a few
                    # channels instead of four round trips per party one after the other.
                    count = min(DECLARE_CHANNELS, -(-len(parties) // DECLARE_WINDOW))
                    channels = [conn.channel() for _ in range(count)]
                    try:
                        pipeline_topology(channels, parties, declare=self.options.declare,
                                          delivery_limit=self.options.delivery_limit,
                                          window=DECLARE_WINDOW)
                    finally:
                        for channel in channels:
                            _close_quietly(channel)
                else:
                    channel = conn.channel()
                    try:
                        declare_topology(channel, parties, declare=self.options.declare,
                                         delivery_limit=self.options.delivery_limit)
                    finally:
                        _close_quietly(channel)
            except NotFound as exc:
                self._drop_publisher()
                raise TransportError(f"topology not provisioned: {exc}") from exc
            except FAILURES as exc:
                self._drop_publisher()
                error = BrokerUnavailable if isinstance(exc, RECOVERABLE) else TransportError
                raise error(f"cannot declare topology: {exc!r}") from exc
            self._declared.update(parties)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, destination: str, body: bytes, *, message_id: str,
                headers: dict[str, Any] | None = None) -> None:
        """Returns once the broker confirmed; PublishError otherwise (maybe sent: retry)."""
        _check_message(destination, body, message_id)
        headers = dict(headers or {})
        json.dumps(headers)  # the embedded broker stores JSON: same rule everywhere
        with self._lock:
            self._check_open()
            self._returned.pop(message_id, None)
            try:
                producer = self._get_producer()
                producer.publish(
                    bytes(body), exchange=EXCHANGE, routing_key=destination, mandatory=True,
                    delivery_mode=2, content_type=CONTENT_TYPE, content_encoding="binary",
                    headers=headers, message_id=message_id,
                    timeout=self.options.confirm_timeout,
                    confirm_timeout=self.options.confirm_timeout,
                    retry=True, retry_policy=self._retry_policy(),
                )
            except Unroutable:
                raise
            except FAILURES as exc:
                self._drop_publisher()
                raise PublishError(f"publish to {destination} not confirmed: {exc!r}") from exc
            if self._returned.pop(message_id, None) is not None:
                raise Unroutable([destination], [message_id])

    def publish_many(self, items: Sequence[tuple[str, bytes, str]]) -> None:
        """Every item confirmed when this returns; a failure republishes the whole batch."""
        items = list(items)
        for destination, body, message_id in items:
            _check_message(destination, body, message_id)
        if not items:
            return
        attempts = self.options.publish_retries + 1
        with self._lock:
            self._check_open()
            for attempt in range(attempts):
                try:
                    unroutable = self._publish_batch(items)
                    break
                except FAILURES as exc:
                    self._drop_publisher()
                    if attempt + 1 == attempts:
                        raise PublishError(
                            f"batch of {len(items)} not confirmed: {exc!r}") from exc
                    logger.warning("batch publish failed (%r), retrying", exc)
                    time.sleep(min(self.options.retry_interval * (attempt + 1),
                                   self.options.retry_interval_max))
        if unroutable:
            raise Unroutable(unroutable.values(), unroutable.keys())

    def _publish_batch(self, items: list[tuple[str, bytes, str]]) -> dict[str, str]:
        """Returns {message_id: destination} of the unroutable items."""
        conn = self._publisher()
        if conn.transport.driver_type == "amqp":
            if self._tracker is None:
                self._tracker = ConfirmTracker(conn.channel())
            window = self.options.confirm_window
            for start in range(0, len(items), window):
                self._tracker.publish_window(conn, EXCHANGE, items[start:start + window],
                                             timeout=self.options.confirm_timeout)
            return self._tracker.take_returned()
        producer = self._get_producer()
        unroutable: dict[str, str] = {}
        with producer.channel.transaction():
            for destination, body, message_id in items:
                try:
                    producer.publish(bytes(body), exchange=EXCHANGE, routing_key=destination,
                                     mandatory=True, delivery_mode=2,
                                     content_type=CONTENT_TYPE, content_encoding="binary",
                                     headers={}, message_id=message_id)
                except Unroutable:
                    unroutable[message_id] = destination
        return unroutable

    def _retry_policy(self) -> dict[str, Any]:
        policy = self.options.retry_policy()
        if self.options.declare is True:
            policy["on_revive"] = self._redeclare
        return policy

    def _redeclare(self, channel: Any) -> None:
        """After a reconnect: a broker that lost its topology gets it back."""
        if self._declared:
            declare_topology(channel, sorted(self._declared), declare=self.options.declare,
                             delivery_limit=self.options.delivery_limit)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        message_id = message.properties.get("message_id")
        if message_id:
            self._returned[message_id] = routing_key

    def _publisher(self) -> Connection:
        if self._conn is None:
            conn = self._connect(False)
            try:
                conn.ensure_connection(**self.options.retry_policy(),
                                       timeout=self.options.connect_timeout)
            except BaseException:
                _release_quietly(conn)
                raise
            self._conn = conn
        return self._conn

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                self._publisher(), exchange=Exchange(EXCHANGE, type="direct", durable=True),
                auto_declare=False, on_return=self._on_return,
            )
        return self._producer

    def _drop_publisher(self) -> None:
        """After any failure the channel state is unknown: start from a new connection."""
        conn, self._conn, self._producer, self._tracker = self._conn, None, None, None
        if conn is not None:
            try:
                conn.collect()
            except Exception as exc:  # best effort: the connection is being thrown away
                logger.debug("ignoring error while dropping a connection: %r", exc)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("bus is closed")

    # -- consuming -----------------------------------------------------------------------

    def consume(self, party: str, handler: Callable[[Delivery], None], *, prefetch: int = 200,
                stop: threading.Event | None = None, idle_timeout: float | None = None,
                batch: Callable[[list[Delivery]], None] | None = None,
                batch_size: int | None = None, pipeline: Pipeline | None = None) -> None:
        """Deliver messages of queue_name(party) until `stop` is set or idle_timeout passes.

        handler returns -> ack; raises -> reject for redelivery (dead-lettered after the
        delivery limit). With `batch`, up to batch_size messages already waiting are handed
        over at once and acked together; if batch raises, each message goes through
        `handler` alone, so one poison message cannot take a batch down with it.
        With `pipeline` (instead of `batch`), batches are prepared on this thread and applied
        on a worker thread, overlapping; acks still go out from this thread, after apply
        returned (see federation.transport.consume).
        """
        check_party(party)
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        if batch is not None and pipeline is not None:
            raise ValueError("give batch or pipeline, not both")
        size = min(batch_size or prefetch, prefetch)
        ConsumeLoop(self, party, handler, prefetch=prefetch, stop=stop,
                    idle_timeout=idle_timeout, batch=batch, batch_size=size,
                    pipeline=pipeline).run()

    def new_connection(self, *, consumer: bool) -> Connection:
        self._check_open()
        return self._connect(consumer)

    # -- operations ----------------------------------------------------------------------

    def dead_letters(self, party: str, limit: int = 100) -> list[Delivery]:
        """Look at up to `limit` dead letters; they stay in the dead-letter queue."""
        check_party(party)
        conn = self.new_connection(consumer=False)
        try:
            conn.ensure_connection(**self.options.retry_policy(),
                                   timeout=self.options.connect_timeout)
            channel = conn.channel()
            queue = Queue(dead_queue_name(party), no_declare=True)(channel)
            found: list[Delivery] = []
            while len(found) < limit:
                message = queue.get(no_ack=False)
                if message is None:
                    break
                found.append(to_delivery(message))
            channel.basic_recover(requeue=True)
            return found
        except FAILURES as exc:
            raise TransportError(f"cannot read dead letters of {party}: {exc!r}") from exc
        finally:
            _release_quietly(conn)

    def queue_depth(self, party: str) -> int:
        """Messages in the party's queue (ready ones on RabbitMQ): for tests and monitoring."""
        conn = self.new_connection(consumer=False)
        try:
            channel = conn.channel()
            return int(channel.queue_declare(queue=queue_name(party), passive=True)[1])
        except FAILURES as exc:
            raise TransportError(f"cannot size the queue of {party}: {exc!r}") from exc
        finally:
            _release_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn, self._producer, self._tracker = self._conn, None, None, None
        if conn is not None:
            _release_quietly(conn)

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except FAILURES as exc:
        logger.debug("ignoring error while closing a channel: %r", exc)


def _release_quietly(conn: Connection) -> None:
    try:
        conn.release()
    except FAILURES as exc:
        logger.debug("ignoring error while closing a connection: %r", exc)
        with contextlib.suppress(*FAILURES):
            conn.collect()


def open_bus(url: str, **options: Any) -> Bus:
    """amqp://... (RabbitMQ), embedded:///abs/path/bus.sqlite3, or memory:// (unit tests)."""
    bus_options = BusOptions.from_kwargs(options)
    return Bus(url, bus_options, connection_factory(url, bus_options))


