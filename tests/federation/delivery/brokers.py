"""RabbitMQ helpers for the delivery fault tests and the bus benchmark, on top of
shared/testing/rabbitmq.py: a vhost of one's own, cutting its connections, a dead port."""

from __future__ import annotations

import contextlib
import secrets
import socket
import urllib.parse
from collections.abc import Iterator

import pytest

from shared.testing.rabbitmq import AMQP_BASE, rabbitmq_problem, rabbitmqctl


def require_rabbitmq_for_benchmark() -> None:
    """A benchmark without its broker fails (like fresh_pg_database(required=True))."""
    problem = rabbitmq_problem()
    if problem:
        pytest.fail(f"RabbitMQ is required here: {problem}")


@contextlib.contextmanager
def rabbitmq_vhost(prefix: str) -> Iterator[str]:
    """A new vhost the test user may use fully, deleted afterwards (with its queues)."""
    vhost = f"{prefix}_{secrets.token_hex(4)}"
    user = urllib.parse.unquote(urllib.parse.urlsplit(AMQP_BASE).username or "guest")
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)


def close_vhost_connections(vhost: str, why: str) -> None:
    """Close every client connection of `vhost` (the broker and other vhosts stay up)."""
    rabbitmqctl("close_all_connections", "--vhost", vhost, why)


def dead_broker_url(vhost: str) -> str:
    """The test broker's URL for `vhost`, but on a local port where nothing listens."""
    with socket.socket() as sock:  # bound, then released: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    parts = urllib.parse.urlsplit(AMQP_BASE)
    netloc = f"{parts.netloc.rsplit(':', 1)[0]}:{port}"
    return f"{parts.scheme}://{netloc}/{urllib.parse.quote(vhost, safe='')}"
