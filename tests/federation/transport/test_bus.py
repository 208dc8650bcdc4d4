"""The Bus contract, on the embedded broker and on RabbitMQ alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from federation.transport import Bus, Delivery, TransportError, Unroutable


def drain(bus: Bus, party: str, *, idle: float = 0.7, **kwargs) -> list[Delivery]:  # type: ignore[no-untyped-def]
    got: list[Delivery] = []
    bus.consume(party, got.append, idle_timeout=idle, **kwargs)
    return got


def test_round_trip_keeps_body_id_and_headers(make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    bus.declare([party])
    body = bytes(range(256)) * 4
    bus.publish(party, body, message_id="01J-round-trip",
                headers={"type": "partynet.test.v1", "n": 7, "ok": True})

    [delivery] = drain(bus, party)

    assert delivery.body == body
    assert delivery.message_id == "01J-round-trip"
    assert delivery.headers == {"type": "partynet.test.v1", "n": 7, "ok": True}
    assert delivery.redelivered is False
    assert delivery.delivery_count == 1
    assert bus.queue_depth(party) == 0


def test_one_queue_is_fifo(make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    bus.declare([party])
    ids = [f"m{i:03d}" for i in range(120)]
    for message_id in ids[:20]:
        bus.publish(party, message_id.encode(), message_id=message_id)
    bus.publish_many([(party, i.encode(), i) for i in ids[20:]])

    assert [d.message_id for d in drain(bus, party)] == ids


def test_publishing_to_an_undeclared_party_is_unroutable(make_bus: Callable[..., Bus],
                                                         party: str) -> None:
    bus = make_bus()
    bus.declare([party])

    with pytest.raises(Unroutable) as single:
        bus.publish("nobody-here", b"x", message_id="lost-1")
    with pytest.raises(Unroutable) as batch:
        bus.publish_many([(party, b"fine", "ok-1"), ("nobody-here", b"x", "lost-2")])

    assert single.value.destinations == ("nobody-here",)
    assert batch.value.destinations == ("nobody-here",)
    assert batch.value.message_ids == ("lost-2",)
    # The routable part of the batch went through, and the bus is still usable.
    bus.publish(party, b"after", message_id="ok-2")
    assert [d.message_id for d in drain(bus, party)] == ["ok-1", "ok-2"]


def test_a_failing_handler_gets_redeliveries_then_the_dead_letter_queue(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus(delivery_limit=2)
    bus.declare([party])
    bus.publish(party, b"poison", message_id="poison")
    bus.publish_many([(party, b"fine", f"fine-{i}") for i in range(5)])
    counts: list[int] = []
    handled: list[str] = []

    def handler(delivery: Delivery) -> None:
        if delivery.message_id == "poison":
            counts.append(delivery.delivery_count)
            raise RuntimeError("cannot apply")
        handled.append(delivery.message_id)

    bus.consume(party, handler, idle_timeout=1.0)

    # Limit 2 = two failed deliveries allowed, the third failure dead-letters (RabbitMQ's rule).
    assert counts == [1, 2, 3]
    assert sorted(handled) == [f"fine-{i}" for i in range(5)]
    [dead] = bus.dead_letters(party)
    assert dead.message_id == "poison"
    assert dead.body == b"poison"
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    # Inspection leaves it there; the work queue is empty and keeps flowing.
    assert [d.message_id for d in bus.dead_letters(party)] == ["poison"]
    bus.publish(party, b"later", message_id="later")
    assert [d.message_id for d in drain(bus, party)] == ["later"]


def test_batch_mode_hands_over_waiting_messages_and_isolates_a_poison_one(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus(delivery_limit=1)
    bus.declare([party])
    bus.publish_many([(party, b"x", f"m{i:03d}") for i in range(150)])
    bus.publish(party, b"poison", message_id="poison")
    batches: list[list[str]] = []
    one_by_one: list[str] = []

    def batch(deliveries: list[Delivery]) -> None:
        ids = [d.message_id for d in deliveries]
        if "poison" in ids:
            raise RuntimeError("one bad message rolls the batch back")
        batches.append(ids)

    def handler(delivery: Delivery) -> None:
        if delivery.message_id == "poison":
            raise RuntimeError("still bad")
        one_by_one.append(delivery.message_id)

    bus.consume(party, handler, batch=batch, batch_size=64, prefetch=100, idle_timeout=1.0)

    done = [i for ids in batches for i in ids] + one_by_one
    assert sorted(done) == [f"m{i:03d}" for i in range(150)]
    assert max(len(ids) for ids in batches) > 1
    assert max(len(ids) for ids in batches) <= 64
    assert [d.message_id for d in bus.dead_letters(party)] == ["poison"]
    assert bus.queue_depth(party) == 0


def test_stop_event_ends_consume_promptly(make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    bus.declare([party])
    stop = threading.Event()
    got: list[str] = []
    thread = threading.Thread(target=bus.consume,
                              args=(party, lambda d: got.append(d.message_id)),
                              kwargs={"stop": stop})
    thread.start()
    bus.publish(party, b"x", message_id="while-running")
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=3)

    assert not thread.is_alive()
    assert got == ["while-running"]


def test_declare_is_idempotent_and_passive_mode_only_checks(make_bus: Callable[..., Bus],
                                                            party: str) -> None:
    admin = make_bus()
    checker = make_bus(declare="passive")

    with pytest.raises(TransportError, match="not provisioned"):
        checker.declare([party])
    admin.declare([party])
    admin.declare([party])
    checker.declare([party])
    checker.publish(party, b"x", message_id="m1")

    assert [d.message_id for d in drain(checker, party)] == ["m1"]


def test_a_changed_delivery_limit_is_refused_not_silently_ignored(
        make_bus: Callable[..., Bus], party: str) -> None:
    make_bus(delivery_limit=3).declare([party])

    with pytest.raises(TransportError):
        make_bus(delivery_limit=5).declare([party])


def test_publish_checks_its_arguments(make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()

    with pytest.raises(ValueError):
        bus.publish("no.dots", b"x", message_id="m")
    with pytest.raises(ValueError):
        bus.publish(party, b"x", message_id="")
    with pytest.raises(TypeError):
        bus.publish(party, "text", message_id="m")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.publish(party, b"x", message_id="m", headers={"when": object()})
