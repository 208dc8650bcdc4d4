"""RabbitMQ failure modes: the server closes us, the broker is down, the broker stalls."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from federation.transport import Delivery, PublishError, TransportError, open_bus

DOWN = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1


class StallingProxy:
    """A TCP proxy to RabbitMQ that can stop passing the broker's frames (a stalled broker)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.stalled = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
                broker = socket.create_connection(self.upstream)
            except OSError:
                return
            self._sockets += [client, broker]
            threading.Thread(target=self._pump, args=(client, broker, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(broker, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_broker: bool) -> None:
        try:
            while data := source.recv(65536):
                if not (from_broker and self.stalled.is_set()):
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def amqp_url(rabbitmq_vhost: str, url_for: Callable[..., str]) -> str:
    return url_for(rabbitmq_vhost)


@pytest.fixture
def proxy(amqp_url: str) -> Iterator[StallingProxy]:
    from urllib.parse import urlsplit

    parts = urlsplit(amqp_url)
    stalling = StallingProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    yield stalling
    stalling.close()


def test_a_consumer_survives_the_server_closing_its_connection(
        amqp_url: str, rabbitmq_vhost: str, ctl: Callable[..., str], fast: dict[str, Any],
        party: str, caplog: pytest.LogCaptureFixture) -> None:
    publisher, consumer = open_bus(amqp_url, **fast), open_bus(amqp_url, **fast)
    publisher.declare([party])
    got: set[str] = set()
    stop = threading.Event()
    thread = threading.Thread(target=consumer.consume,
                              args=(party, lambda d: got.add(d.message_id)),
                              kwargs={"stop": stop, "prefetch": 20})
    thread.start()
    ids = [f"m{i:03d}" for i in range(300)]

    with caplog.at_level(logging.WARNING, logger="federation.transport"):
        for i, message_id in enumerate(ids):
            publisher.publish(party, message_id.encode(), message_id=message_id)
            if i in (100, 200):
                ctl("close_all_connections", "-p", rabbitmq_vhost, "test: server-side close")
        deadline = time.monotonic() + 20
        while not set(ids) <= got and time.monotonic() < deadline:
            time.sleep(0.05)
    stop.set()
    thread.join(timeout=5)

    assert set(ids) - got == set()
    reconnects = [r for r in caplog.records if "lost its connection" in r.getMessage()]
    assert len(reconnects) >= 2
    publisher.close()
    consumer.close()


def test_publishing_to_a_broker_that_is_down_fails_within_seconds() -> None:
    bus = open_bus(DOWN, connect_timeout=1, publish_retries=1, retry_interval=0.1)

    for attempt in (lambda: bus.publish("hub", b"x", message_id="m1"),
                    lambda: bus.publish_many([("hub", b"x", "m2")])):
        started = time.monotonic()
        with pytest.raises(PublishError):
            attempt()
        assert time.monotonic() - started < 5
    with pytest.raises(TransportError):
        bus.declare(["hub"])


def test_a_consumer_of_a_broker_that_is_down_gives_up_at_its_idle_timeout() -> None:
    bus = open_bus(DOWN, connect_timeout=1, reconnect_interval_max=0.3)
    started = time.monotonic()

    bus.consume("hub", lambda d: None, idle_timeout=1.0)

    assert 0.9 < time.monotonic() - started < 4


def test_a_broker_that_stops_confirming_gives_publish_error_not_a_hang(
        proxy: StallingProxy, fast: dict[str, Any], party: str, amqp_url: str) -> None:
    via_proxy = amqp_url.replace(f":{proxy.upstream[1]}/", f":{proxy.port}/")
    bus = open_bus(via_proxy, **{**fast, "confirm_timeout": 1.0, "connect_timeout": 1.0,
                                 "publish_retries": 1, "retry_interval": 0.1})
    bus.declare([party])
    bus.publish(party, b"x", message_id="before")

    proxy.stalled.set()
    for attempt in (lambda: bus.publish(party, b"x", message_id="stalled-1"),
                    lambda: bus.publish_many([(party, b"x", "stalled-2")] * 3)):
        started = time.monotonic()
        with pytest.raises(PublishError):
            attempt()
        assert time.monotonic() - started < 8
    proxy.stalled.clear()
    bus.publish(party, b"x", message_id="after")  # the bus recovers by itself

    got: list[Delivery] = []
    open_bus(amqp_url, **fast).consume(party, got.append, idle_timeout=0.7)
    ids = [d.message_id for d in got]
    assert ids[0] == "before" and ids[-1] == "after"  # stalled ones may or may not be there
    bus.close()
