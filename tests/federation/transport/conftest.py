"""Transports under test: the embedded broker always, RabbitMQ when reachable (always on CI).

Each xdist worker gets its own RabbitMQ vhost for the session (created with rabbitmqctl,
deleted afterwards) and every test its own party ids, so nothing collides.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.transport import Bus, open_bus
from shared.testing.rabbitmq import amqp_url, rabbitmqctl

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("transport_worker.py")

# Short leases and timeouts keep fault tests to seconds.
FAST: dict[str, Any] = {"lease_seconds": 1.0, "poll_interval": 0.02, "connect_timeout": 2.0,
                        "confirm_timeout": 5.0, "heartbeat": 10.0, "delivery_limit": 3}


@pytest.fixture(params=["embedded", "rabbitmq"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bus_url(transport: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if transport == "embedded":
        return f"embedded://{tmp_path}/bus.sqlite3"
    return amqp_url(request.getfixturevalue("rabbitmq_vhost"))


@pytest.fixture
def make_bus(bus_url: str) -> Iterator[Callable[..., Bus]]:
    """Buses on this test's transport, closed afterwards; options override FAST."""
    opened: list[Bus] = []

    def make(**options: Any) -> Bus:
        bus = open_bus(bus_url, **{**FAST, **options})
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        bus.close()


@pytest.fixture
def party() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start transport_worker.py processes; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, str(WORKER), *args], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="session")
def ctl() -> Callable[..., str]:
    return rabbitmqctl


@pytest.fixture
def fast() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture(scope="session")
def url_for() -> Callable[..., str]:
    """amqp_url(vhost, user, password)."""
    return amqp_url
