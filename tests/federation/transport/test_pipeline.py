"""Pipelined consuming (Bus.consume with a Pipeline): batches are prepared on the consuming
thread while the previous one applies on a worker thread; acks still come from the consuming
thread, only after apply returned. On the embedded broker and on RabbitMQ alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from federation.transport import UNPREPARED, Bus, Delivery, Pipeline, open_bus


def publish(bus: Bus, party: str, ids: list[str]) -> None:
    bus.declare([party])
    bus.publish_many([(party, i.encode(), i) for i in ids])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def never(delivery: Delivery) -> None:
    raise AssertionError(f"the one-by-one handler ran for {delivery.message_id}")


def test_the_next_batch_is_prepared_while_one_applies_in_order_and_within_two_batches(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    ids = [f"m{i:03d}" for i in range(120)]
    publish(bus, party, ids)
    consuming = threading.current_thread()
    prepared: list[str] = []
    applied: list[str] = []
    threads: set[str] = set()
    mismatches: list[Any] = []
    unprepared: list[str] = []
    in_flight: list[int] = []
    overlapped: list[int] = []
    applying = threading.Event()

    def prepare(deliveries: list[Delivery]) -> list[str]:
        if threading.current_thread() is not consuming:
            mismatches.append("prepare ran off the consuming thread")
        if applying.is_set():
            overlapped.append(len(deliveries))
        prepared.extend(d.message_id for d in deliveries)
        in_flight.append(len(prepared) - len(applied))
        return [d.body.decode() for d in deliveries]

    def apply(deliveries: list[Delivery], items: list[Any]) -> None:
        threads.add(threading.current_thread().name)
        applying.set()
        time.sleep(0.02)  # the database's turn: the consuming thread reads meanwhile
        for delivery, item in zip(deliveries, items, strict=True):
            if item is UNPREPARED:  # arrived after the last prepare: apply's to do
                unprepared.append(delivery.message_id)
            elif item != delivery.message_id:
                mismatches.append(item)
        applied.extend(d.message_id for d in deliveries)
        applying.clear()

    bus.consume(party, never, pipeline=Pipeline(prepare, apply), batch_size=10, prefetch=20,
                idle_timeout=0.7)

    assert applied == ids  # each once, in the queue's order
    assert mismatches == []
    assert set(unprepared) | set(prepared) == set(ids)
    assert not set(unprepared) & set(prepared)  # prepared by one thread or the other
    assert threads == {"partynet-apply"}
    assert overlapped, "no batch was prepared while another one applied"
    assert max(in_flight) <= 20  # two batches: one applying, one prepared
    assert bus.queue_depth(party) == 0


def test_stopping_while_a_batch_applies_acks_it_and_gives_back_the_prepared_one(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    ids = [f"m{i:03d}" for i in range(60)]
    publish(bus, party, ids)
    stop, release = threading.Event(), threading.Event()
    prepared: list[str] = []
    applied: list[str] = []

    def prepare(deliveries: list[Delivery]) -> list[None]:
        prepared.extend(d.message_id for d in deliveries)
        return [None] * len(deliveries)

    def apply(deliveries: list[Delivery], _: list[None]) -> None:
        if not applied:
            release.wait(10)  # the first batch is still committing when stop comes
        applied.extend(d.message_id for d in deliveries)

    consumer = threading.Thread(target=bus.consume, args=(party, never), kwargs={
        "pipeline": Pipeline(prepare, apply), "batch_size": 10, "prefetch": 20, "stop": stop})
    consumer.start()
    wait_for(lambda: len(prepared) >= 20, "the second batch to be prepared")
    stop.set()
    release.set()
    consumer.join(10)

    assert not consumer.is_alive()
    assert applied == ids[:10]  # the batch that was applying finished, and was acked...
    again: list[str] = []
    bus.consume(party, lambda d: again.append(d.message_id), idle_timeout=0.7)
    assert sorted(again) == ids[10:]  # ...the prepared one was not: it came back


def test_a_failing_batch_goes_through_the_handler_one_by_one(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus(delivery_limit=1)
    ids = [f"m{i:03d}" for i in range(40)]
    publish(bus, party, [*ids[:20], "poison", *ids[20:]])
    batches: list[list[str]] = []
    one_by_one: list[str] = []

    def apply(deliveries: list[Delivery], _: list[Any]) -> None:
        names = [d.message_id for d in deliveries]
        if "poison" in names:
            raise RuntimeError("one bad message rolls the batch back")
        batches.append(names)

    def handler(delivery: Delivery) -> None:
        if delivery.message_id == "poison":
            raise RuntimeError("still bad")
        one_by_one.append(delivery.message_id)

    bus.consume(party, handler, pipeline=Pipeline(lambda ds: [None] * len(ds), apply),
                batch_size=8, prefetch=16, idle_timeout=1.0)

    assert sorted([i for names in batches for i in names] + one_by_one) == ids
    assert 0 < len(one_by_one) <= 2 * 8  # the batches that held the poison (twice at most)
    assert [d.message_id for d in bus.dead_letters(party)] == ["poison"]
    assert bus.queue_depth(party) == 0


def test_a_chunk_whose_prepare_fails_is_left_to_apply(
        make_bus: Callable[..., Bus], party: str) -> None:
    """prepare may need the database too (fresh keys): its failure is not the consume's."""
    bus = make_bus()
    ids = [f"m{i:03d}" for i in range(30)]
    publish(bus, party, ids)
    applied: list[tuple[str, Any]] = []
    failed: list[str] = []

    def prepare(deliveries: list[Delivery]) -> list[str]:
        if not failed:
            failed.extend(d.message_id for d in deliveries)
            raise RuntimeError("database unavailable")
        return ["ok"] * len(deliveries)

    bus.consume(party, never, pipeline=Pipeline(prepare, lambda ds, items: applied.extend(
        (d.message_id, item) for d, item in zip(ds, items, strict=True))),
        batch_size=10, prefetch=20, idle_timeout=0.7)

    assert [i for i, _ in applied] == ids
    assert failed
    assert all(item is UNPREPARED for i, item in applied if i in failed)
    assert bus.queue_depth(party) == 0


def test_prepare_must_give_one_item_per_delivery_and_batch_excludes_pipeline(
        make_bus: Callable[..., Bus], party: str) -> None:
    bus = make_bus()
    publish(bus, party, ["only"])
    with pytest.raises(ValueError, match="one item per delivery"):
        bus.consume(party, never, pipeline=Pipeline(lambda ds: [], lambda ds, items: None),
                    idle_timeout=0.5)
    with pytest.raises(ValueError, match="not both"):
        bus.consume(party, never, batch=lambda ds: None,
                    pipeline=Pipeline(lambda ds: ds, lambda ds, items: None), idle_timeout=0.5)
    got: list[str] = []
    bus.consume(party, lambda d: got.append(d.message_id), idle_timeout=0.5)
    assert got == ["only"]  # refused before any ack


@pytest.mark.parametrize("transport", ["rabbitmq"])
def test_a_batch_applying_when_the_connection_drops_is_not_acked_but_delivered_again(
        transport: str, bus_url: str, rabbitmq_vhost: str, ctl: Callable[..., str],
        fast: dict[str, Any], party: str) -> None:
    """Delivery tags die with the connection: the batch that committed meanwhile is not acked
    on the new one (that would be a channel error), the broker gives it again instead."""
    bus = open_bus(bus_url, **fast)
    ids = [f"m{i:03d}" for i in range(50)]
    publish(bus, party, ids)
    stop, release = threading.Event(), threading.Event()
    applied: list[str] = []

    def apply(deliveries: list[Delivery], _: list[None]) -> None:
        if not applied:
            release.wait(10)
        applied.extend(d.message_id for d in deliveries)

    consumer = threading.Thread(target=bus.consume, args=(party, never), kwargs={
        "pipeline": Pipeline(lambda ds: [None] * len(ds), apply), "batch_size": 10,
        "prefetch": 20, "stop": stop})
    consumer.start()
    try:
        wait_for(lambda: bus.queue_depth(party) <= len(ids) - 20, "two batches to be taken")
        ctl("close_all_connections", "-p", rabbitmq_vhost, "test: drop the consumer")
        time.sleep(0.3)  # the consuming thread notices while the batch still applies
        release.set()
        wait_for(lambda: set(ids) <= set(applied) and len(applied) >= len(ids) + 10,
                 "every message, the first batch twice")
    finally:
        release.set()
        stop.set()
        consumer.join(10)
        bus.close()
    assert not consumer.is_alive()
    assert sorted(applied) == sorted(ids + ids[:10])
