"""Names, URLs and options; and the memory transport that unit tests elsewhere use."""

from __future__ import annotations

import secrets

import pytest

from federation.transport import Delivery, Unroutable, open_bus, queue_name


def test_queue_names() -> None:
    assert queue_name("hub") == "partynet.hub"
    assert queue_name("n1") == "partynet.node.n1"
    assert queue_name("01J0ABCDEF-x_y") == "partynet.node.01J0ABCDEF-x_y"


@pytest.mark.parametrize("bad", ["", "a.b", "n 1", "n*", "-n", "x" * 129, "ä"])
def test_party_ids_that_would_break_names_or_permission_regexes(bad: str) -> None:
    with pytest.raises(ValueError):
        queue_name(bad)


def test_open_bus_rejects_unknown_urls_and_options() -> None:
    with pytest.raises(ValueError):
        open_bus("redis://localhost")
    with pytest.raises(ValueError):
        open_bus("embedded://")
    with pytest.raises(TypeError, match="leese_seconds"):
        open_bus("memory://", leese_seconds=1)
    with pytest.raises(ValueError):
        open_bus("memory://", declare="sometimes")
    with pytest.raises(ValueError):
        open_bus("memory://", confirm_timeout=0)


def test_bus_repr_hides_the_password() -> None:
    bus = open_bus("amqp://node-n1:s3cret@broker.example:5671/partynet")
    assert "s3cret" not in repr(bus)
    assert bus.url == "amqp://node-n1:s3cret@broker.example:5671/partynet"


def test_memory_bus_round_trip_unroutable_and_redelivery_count() -> None:
    party = f"m{secrets.token_hex(4)}"
    bus = open_bus("memory://")
    bus.declare([party])
    bus.publish(party, b"one", message_id="m1", headers={"k": "v"})
    bus.publish_many([(party, b"two", "m2")])
    with pytest.raises(Unroutable):
        bus.publish(f"{party}x", b"x", message_id="m3")
    attempts: list[int] = []
    seen: list[Delivery] = []

    def handler(delivery: Delivery) -> None:
        if delivery.message_id == "m1" and len(attempts) < 2:
            attempts.append(delivery.delivery_count)
            raise RuntimeError("again")
        seen.append(delivery)

    bus.consume(party, handler, idle_timeout=0.3)

    assert attempts == [1, 2]
    assert [(d.message_id, d.body) for d in seen] == [("m2", b"two"), ("m1", b"one")]
    assert seen[1].headers == {"k": "v"} and seen[1].delivery_count == 3
    bus.close()


def test_memory_batch_mode_acks_the_whole_batch() -> None:
    party = f"m{secrets.token_hex(4)}"
    bus = open_bus("memory://")
    bus.declare([party])
    bus.publish_many([(party, b"x", f"m{i}") for i in range(30)])
    batches: list[int] = []

    bus.consume(party, lambda d: None, batch=lambda ds: batches.append(len(ds)),
                prefetch=10, idle_timeout=0.3)

    assert sum(batches) == 30
    assert max(batches) == 10
    assert bus.queue_depth(party) == 0
