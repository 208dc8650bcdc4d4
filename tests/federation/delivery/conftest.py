"""A small network for delivery tests: SQLite with the embedded bus, and PostgreSQL with
RabbitMQ (when reachable; both required on CI)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import pytest

from federation.transport import open_bus
from shared.testing.backends import backends, fresh_pg_database
from shared.testing.rabbitmq import amqp_url
from tests.federation.delivery.harness import Clock, Node, make_node

FAST_BUS = {"lease_seconds": 1.0, "poll_interval": 0.01, "connect_timeout": 2.0,
            "confirm_timeout": 5.0, "delivery_limit": 5}


@pytest.fixture()
def clock() -> Clock:
    return Clock()


#: (database, bus) pairs: each backend and each transport once, without the full product.
SETUPS = [("sqlite", "embedded")] + ([("postgresql", "rabbitmq")]
                                     if "postgresql" in backends() else [])


@pytest.fixture(params=SETUPS, ids=["-".join(s) for s in SETUPS])
def network(request, tmp_path, clock) -> Iterator[Callable[..., list[Node]]]:
    """network("hub", "n1", ...) -> parties that trust each other, on one bus."""
    backend, transport = request.param
    stack = contextlib.ExitStack()
    if transport == "embedded":
        url = f"embedded://{tmp_path / 'bus.sqlite3'}"
    else:
        url = amqp_url(request.getfixturevalue("rabbitmq_vhost"))
    bus = open_bus(url, **FAST_BUS)
    stack.callback(bus.close)
    suffix = secrets.token_hex(3)  # queue names unique in the shared vhost

    def database(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        return stack.enter_context(fresh_pg_database(f"partynet_fed_{secrets.token_hex(3)}"))

    def build(*ids: str, declare: bool = True) -> list[Node]:
        nodes = [make_node(f"{i}-{suffix}", database(i), bus, clock) for i in ids]
        for node in nodes:
            stack.callback(node.db.dispose)
            for other in nodes:
                if other is not node:
                    node.trust(other)
        if declare:
            bus.declare([node.id for node in nodes])
        return nodes

    with stack:
        yield build
