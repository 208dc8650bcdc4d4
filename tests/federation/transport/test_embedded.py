"""The embedded broker's own promises: state in the file, leases, batches, URLs."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Queue

from federation.transport import Delivery, Unroutable, open_bus, queue_name
from federation.transport.embedded import Transport
from federation.transport.queue_table import QueueTable


def test_the_database_is_wal_with_the_chosen_synchronous_level(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    table = QueueTable(str(path), synchronous="FULL")
    try:
        assert table._read("PRAGMA journal_mode")[0][0] == "wal"
        assert table._read("PRAGMA synchronous")[0][0] == 2  # FULL
    finally:
        table.close()
    with pytest.raises(ValueError):
        QueueTable(str(path), synchronous="OFF")


def test_topology_declared_by_one_process_is_seen_by_another(tmp_path: Path,
                                                              fast: dict[str, Any]) -> None:
    url = f"embedded://{tmp_path}/bus.sqlite3"
    with open_bus(url, **fast) as first:
        first.declare(["hub"])
    with open_bus(url, declare=False, **fast) as second:
        second.publish("hub", b"x", message_id="m1")
        with pytest.raises(Unroutable):
            second.publish("n9", b"x", message_id="m2")
        assert second.queue_depth("hub") == 1


def test_an_expired_lease_makes_the_message_visible_again(tmp_path: Path,
                                                          fast: dict[str, Any]) -> None:
    url = f"embedded://{tmp_path}/bus.sqlite3"
    bus = open_bus(url, **{**fast, "lease_seconds": 0.3})
    bus.declare(["hub"])
    bus.publish("hub", b"x", message_id="m1")
    # A consumer that takes the message and then hangs (never acks, never closes).
    stuck = Connection(transport=Transport,
                       transport_options={"path": f"{tmp_path}/bus.sqlite3",
                                          "lease_seconds": 0.3})
    message = Queue(queue_name("hub"), no_declare=True)(stuck.channel()).get(no_ack=False)
    assert message is not None
    assert bus.queue_depth("hub") == 1

    got: list[Delivery] = []
    bus.consume("hub", got.append, idle_timeout=1.0)

    assert [(d.message_id, d.delivery_count, d.redelivered) for d in got] == [("m1", 2, True)]
    stuck.collect()
    bus.close()


def test_a_live_consumer_renews_its_leases(tmp_path: Path, fast: dict[str, Any]) -> None:
    """Slow handling of a claimed batch outlives the lease, but nobody else gets the rows."""
    url = f"embedded://{tmp_path}/bus.sqlite3"
    options = {**fast, "lease_seconds": 0.6, "claim_batch": 20}
    slow, rival = open_bus(url, **options), open_bus(url, **options)
    slow.declare(["hub"])
    slow.publish_many([("hub", b"x", f"m{i}") for i in range(8)])
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(name: str, pause: float):  # type: ignore[no-untyped-def]
        def handle(delivery: Delivery) -> None:
            time.sleep(pause)
            with lock:
                seen.append((name, delivery.message_id))
        return handle

    first = threading.Thread(target=slow.consume,
                             args=("hub", handler("slow", 0.25)), kwargs={"idle_timeout": 1.0})
    first.start()
    time.sleep(0.2)  # the slow consumer has claimed all 8 (2 s of work, 0.6 s leases)
    rival.consume("hub", handler("rival", 0), idle_timeout=1.5)
    first.join()

    assert sorted(i for _, i in seen) == [f"m{i}" for i in range(8)]
    assert {name for name, _ in seen} == {"slow"}
    slow.close()
    rival.close()


def test_closing_gives_back_claimed_but_unhandled_messages_uncounted(
        tmp_path: Path, fast: dict[str, Any]) -> None:
    url = f"embedded://{tmp_path}/bus.sqlite3"
    bus = open_bus(url, **{**fast, "claim_batch": 50})
    bus.declare(["hub"])
    bus.publish_many([("hub", b"x", f"m{i}") for i in range(10)])
    stop = threading.Event()

    def first_only(delivery: Delivery) -> None:
        stop.set()

    bus.consume("hub", first_only, stop=stop)
    rest: list[Delivery] = []
    bus.consume("hub", rest.append, idle_timeout=0.5)

    assert [d.message_id for d in rest] == [f"m{i}" for i in range(1, 10)]
    assert {d.delivery_count for d in rest} == {1}
    bus.close()


def test_publish_many_is_one_transaction(tmp_path: Path, fast: dict[str, Any]) -> None:
    url = f"embedded://{tmp_path}/bus.sqlite3"
    bus = open_bus(url, **fast)
    bus.declare(["hub"])
    # Hold the write lock from another connection: the batch must wait, then land whole.
    blocker = sqlite3.connect(f"{tmp_path}/bus.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    thread = threading.Thread(
        target=bus.publish_many, args=([("hub", b"x", f"m{i}") for i in range(300)],))
    thread.start()
    time.sleep(0.3)
    visible = blocker.execute("SELECT count(*) FROM messages").fetchone()[0]
    blocker.execute("COMMIT")
    thread.join(timeout=5)

    assert visible == 0
    assert bus.queue_depth("hub") == 300
    blocker.close()
    bus.close()


@pytest.mark.parametrize(("url", "path"), [
    ("embedded:///var/lib/partynet/bus.sqlite3", "/var/lib/partynet/bus.sqlite3"),
    ("embedded://instance/bus.sqlite3", "instance/bus.sqlite3"),
])
def test_embedded_urls(url: str, path: str) -> None:
    from federation.transport.connections import embedded_path

    assert embedded_path(url) == path


def test_kombu_can_open_the_registered_embedded_scheme(tmp_path: Path) -> None:
    with Connection(f"embedded://{tmp_path}/k.sqlite3") as conn:
        conn.channel()
        assert conn.transport.path == f"{tmp_path}/k.sqlite3"


def test_a_message_whose_consumers_keep_dying_is_dead_lettered(tmp_path: Path) -> None:
    """Past the limit, an expired lease means the last delivery failed too: dead-letter it."""
    from federation.transport.queue_table import QueueSpec

    table = QueueTable(str(tmp_path / "bus.sqlite3"))
    table.declare_exchange("dlx", "direct")
    table.declare_queue(QueueSpec("work", 1, "dlx", "work.dead"))
    table.declare_queue(QueueSpec("work.dead", None, None, None))
    table.bind("work.dead", "dlx", "work.dead")
    table.insert(["work"], b"x", "m1", {"h": 1}, {"routing_key": "n1"})

    first = table.claim("work", "consumer-1", 10, lease_seconds=0)
    second = table.claim("work", "consumer-2", 10, lease_seconds=0)
    third = table.claim("work", "consumer-3", 10, lease_seconds=0)
    [dead] = table.claim("work.dead", "ops", 10, lease_seconds=30)

    assert [m.attempts for m in first + second] == [1, 2]  # limit 1: two deliveries
    assert third == []
    assert dead.message_id == "m1" and dead.body == b"x" and dead.headers["h"] == 1
    assert dead.headers["x-death"][0]["reason"] == "delivery_limit"
    assert dead.headers["x-death"][0]["queue"] == "work"
    table.close()
