"""Broker fixtures shared by the transport and delivery tests."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator

import pytest

from shared.testing.rabbitmq import AMQP_BASE, rabbitmqctl, require_rabbitmq


@pytest.fixture(scope="session")
def rabbitmq() -> None:
    """Skips (or fails, on CI) tests that need a RabbitMQ broker and rabbitmqctl."""
    require_rabbitmq()


@pytest.fixture(scope="session")
def rabbitmq_vhost(rabbitmq: None) -> Iterator[str]:
    vhost = f"partynet_test_{secrets.token_hex(4)}"
    user = urllib.parse.unquote(urllib.parse.urlsplit(AMQP_BASE).username or "guest")
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)
