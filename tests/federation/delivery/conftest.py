"""A small network for delivery tests: databases on every backend, the embedded bus (and
RabbitMQ, see tests/federation/transport/conftest.py for the broker fixtures)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import pytest

from federation.transport import open_bus
from shared.testing.backends import backends, fresh_pg_database
from tests.federation.delivery.harness import Clock, Node, make_node

FAST_BUS = {"lease_seconds": 1.0, "poll_interval": 0.01, "connect_timeout": 2.0,
            "confirm_timeout": 5.0, "delivery_limit": 5}


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=backends())
def network(request, tmp_path, clock) -> Iterator[Callable[..., list[Node]]]:
    """network("hub", "n1", ...) -> nodes that trust each other, on one embedded bus."""
    stack = contextlib.ExitStack()
    bus = open_bus(f"embedded://{tmp_path / 'bus.sqlite3'}", **FAST_BUS)
    stack.callback(bus.close)

    def database(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        return stack.enter_context(fresh_pg_database(f"partynet_fed_{secrets.token_hex(3)}"))

    def build(*ids: str, declare: bool = True) -> list[Node]:
        nodes = [make_node(i, database(i), bus, clock) for i in ids]
        for node in nodes:
            stack.callback(node.db.dispose)
            for other in nodes:
                if other is not node:
                    node.trust(other)
        if declare:
            bus.declare(ids)
        return nodes

    with stack:
        yield build
