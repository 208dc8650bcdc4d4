"""kombu's in-process memory transport, for unit tests only: nothing survives the process.

Two changes make it behave like the real brokers where unit tests can notice: a mandatory
publish with no bound queue raises Unroutable, and a requeued message counts its deliveries
in x-delivery-count. There is no delivery limit and no dead-lettering here.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from kombu.transport import memory

from federation.transport.errors import Unroutable


class Channel(memory.Channel):
    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.events: defaultdict[str, set[Any]] = defaultdict(set)  # kombu's is class-wide

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str,
                      mandatory: bool = False, **kwargs: Any) -> None:
        if mandatory and not self._routes(exchange, routing_key):
            message_id = message["properties"].get("message_id")
            raise Unroutable([routing_key], [message_id] if message_id else [])
        super().basic_publish(message, exchange, routing_key, **kwargs)

    def _routes(self, exchange: str, routing_key: str) -> set[str]:
        if not exchange:
            return {routing_key} if self._has_queue(routing_key) else set()
        try:
            return set(self.typeof(exchange).lookup(
                self.get_table(exchange), exchange, routing_key, None))
        except KeyError:
            return set()

    def _restore(self, message: Any) -> None:
        message.headers["x-delivery-count"] = int(message.headers.get("x-delivery-count", 0)) + 1
        super()._restore(message)


class Transport(memory.Transport):
    Channel = Channel
    polling_interval = 0.01
