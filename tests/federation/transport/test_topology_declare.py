"""Declaring many parties at once: pipelined on a few channels on RabbitMQ, one at a time on the
embedded broker; either way every queue and binding exists afterwards, and a refused declare
fails the call instead of passing unnoticed (nowait declares are checked by a round trip)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from federation.transport import Bus, TransportError, open_bus
from federation.transport import bus as bus_module


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> int:
    """A window of 2 parties: 11 parties take the 4 channels (DECLARE_CHANNELS) twice; the
    real window, 25, would need hundreds of quorum queues on the shared broker."""
    monkeypatch.setattr(bus_module, "DECLARE_WINDOW", 2)
    return 2


def _parties(n: int) -> list[str]:
    tag = secrets.token_hex(3)
    return [f"d{tag}-{i}" for i in range(n)]


def test_every_party_declared_can_receive(make_bus: Callable[..., Bus],
                                          small_window: int) -> None:
    parties = _parties(11)
    bus = make_bus()

    bus.declare(parties)
    bus.declare(parties)  # again: idempotent

    for party in parties:
        bus.publish(party, b"x", message_id=f"to-{party}")  # Unroutable without the binding
    assert [bus.queue_depth(p) for p in parties] == [1] * len(parties)


def test_a_refused_declare_within_a_window_fails_the_call(
        rabbitmq_vhost: str, url_for: Callable[..., str], fast: dict[str, Any],
        small_window: int) -> None:
    parties = _parties(7)
    with open_bus(url_for(rabbitmq_vhost), **{**fast, "delivery_limit": 5}) as other:
        other.declare([parties[4]])
    bus = open_bus(url_for(rabbitmq_vhost), **{**fast, "delivery_limit": 3})

    with pytest.raises(TransportError, match=r"PRECONDITION_FAILED|inequivalent"):
        bus.declare(parties)  # parties[4]: same queue, another x-delivery-limit

    bus.declare([p for p in parties if p != parties[4]])  # the bus reconnects and goes on
    bus.publish(parties[6], b"x", message_id="after")
    assert bus.queue_depth(parties[6]) == 1
    bus.close()


def test_a_passive_declare_of_a_missing_queue_fails_within_a_window(
        make_bus: Callable[..., Bus], small_window: int) -> None:
    parties = _parties(5)
    make_bus().declare(parties[:3])
    checker = make_bus(declare="passive")

    checker.declare(parties[:3])
    with pytest.raises(TransportError):
        checker.declare(parties)
