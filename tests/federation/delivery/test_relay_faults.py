"""The relay when things happen around a publish.

A broker that does not take its publishes: the messages wait in the outbox with the error and
a retry time that backs off, doubling per failed round; the relay's loop waits as long (acks
too); the first round that gets through resets it all.

A peer that acknowledges a message while the relay is retransmitting it: the row is deleted,
SQLite may give its id to the next message written, and what the relay then records about the
retransmission must not land on that new message (it would hold it back, unsequenced, until
a retransmission timer passed, and later messages would overtake it in the stream).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Timing
from federation.delivery.models import OutboxMessage
from federation.transport import PublishError
from tests.federation.delivery.harness import FAST


class DownBus:
    """The node's bus while the broker is down: every publish fails, as Bus.publish_many does
    when it cannot connect."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus
        self.attempts = 0

    def publish_many(self, items: Any) -> None:
        self.attempts += 1
        raise PublishError(f"batch of {len(items)} not confirmed: ConnectionRefusedError(111)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class CountingStop(threading.Event):
    """A stop event that records what the loop waits for, and stops it after `rounds`."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


def outbox(node: Any) -> list[Any]:
    """The node's outbox rows as stored now (not the session's cached objects)."""
    with node.db.engine.connect() as conn:
        return list(conn.execute(sa.select(OutboxMessage.__table__)
                                 .order_by(OutboxMessage.id)))


def bounds(failures: int, timing: Timing = FAST) -> tuple[dt.timedelta, dt.timedelta]:
    base = timing.publish_retry * 2 ** (failures - 1)
    low, high = timing.jitter
    return (min(base * low, timing.publish_retry_max), min(base * high, timing.publish_retry_max))


def test_failed_publishes_back_off_in_the_database_and_reset_once_through(network, clock):
    node, hub = network("n1", "hub")
    for n in (1, 2, 3):
        node.send(hub.id, n)
    real, down = node.relay.bus, DownBus(node.relay.bus)
    node.relay.bus = down

    delays = []
    for failures in range(1, 8):
        with pytest.raises(PublishError):
            node.relay.run_once()
        rows = outbox(node)
        assert [r.attempts for r in rows] == [0, 0, 0]  # nothing counts as sent
        assert all("ConnectionRefusedError" in (r.last_error or "") for r in rows)
        [due] = {r.next_attempt_at.replace(tzinfo=dt.UTC) for r in rows}
        delays.append(due - clock.now)
        low, high = bounds(failures)
        assert low <= delays[-1] <= high, (failures, delays)
        assert node.relay.failures == failures
        assert node.relay.run_once() == 0  # not due yet: the broker is not hammered
        clock.now = due
    assert down.attempts == 7
    assert delays[-1] == FAST.publish_retry_max  # 1 s doubling, jittered: the 30 s cap by the 7th
    assert delays == sorted(delays)

    node.relay.bus = real  # the broker is back
    assert node.relay.run_once() == 3
    assert node.relay.failures == 0
    assert all(r.last_error is None and r.attempts == 1 for r in outbox(node))
    hub.consume()
    assert hub.effects() == [1, 2, 3]


def test_the_relay_loop_waits_as_long_as_it_delayed_the_messages(network, clock):
    """Acks are not outbox rows: without the loop's own wait, an ack owed to a peer would be
    retried every idle tick for as long as the broker is away."""
    node, hub = network("n1", "hub")
    node.send(hub.id, 1)
    node.relay.run_once()
    hub.consume()  # the hub now owes n1 an ack
    down = DownBus(hub.relay.bus)
    hub.relay.bus = down
    stop = CountingStop(rounds=5)
    hub.relay.run(stop, idle=0.01)
    assert down.attempts == 5  # one try per wait, however fast the loop could go
    for failures, waited in enumerate(stop.waits, start=1):
        low, high = bounds(failures)
        assert low.total_seconds() <= waited <= high.total_seconds(), stop.waits
    assert stop.waits[-1] > stop.waits[0] * 4  # 1 s doubling: 16 s by the fifth


class AckedWhilePublishing:
    """The node's bus for one publish: it goes through, and meanwhile the hub acknowledges
    it, the node's consumer deletes the acknowledged row, and the application writes the next
    message (on SQLite it takes the freed id: the table is empty again)."""

    def __init__(self, node: Any, hub: Any) -> None:
        self.node, self.hub = node, hub
        self.new_message: str | None = None

    def publish_many(self, items: Any) -> None:
        self.node.bus.publish_many(items)
        self.hub.consume()  # a duplicate: the hub owes its ack again
        assert self.hub.relay.run_once() == 1
        self.node.consume()  # the ack: n1's row is deleted
        assert outbox(self.node) == []
        self.new_message = self.node.send(self.hub.id, 2)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node.bus, name)


def test_a_row_acknowledged_while_retransmitted_does_not_hold_back_the_next_message(
        network, clock):
    node, hub = network("n1", "hub")
    node.send(hub.id, 1)
    assert node.relay.run_once() == 1
    hub.bus.consume(hub.id, lambda d: hub.consumer.handle(d.body), idle_timeout=0.3)
    assert hub.effects() == [1]  # applied; the hub's ack is not sent yet
    clock.advance(seconds=15)  # past the retransmission of n1's message
    bus = AckedWhilePublishing(node, hub)
    node.relay.bus = bus
    assert node.relay.run_once() == 1  # the retransmission
    node.relay.bus = node.bus

    [row] = outbox(node)
    assert row.message_id == bus.new_message
    assert (row.sequence, row.attempts, row.last_error) == (None, 0, None)  # untouched
    node.send(hub.id, 3)
    assert node.relay.run_once() == 2  # the new message is due at once, before 3
    hub.consume()
    assert hub.effects() == [1, 2, 3]
    hub.relay.run_once()
    node.consume()
    assert outbox(node) == []
