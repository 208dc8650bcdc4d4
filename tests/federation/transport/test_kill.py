"""SIGKILL at random moments: every confirmed message is delivered at least once.

Real processes (transport_worker.py) publish and consume; the test kills them mid-stream and
then drains what is left. Duplicates are allowed at this layer (the inbox removes them);
losing a confirmed message is not.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from federation.transport import Bus, Delivery


def lines(path: Path) -> list[str]:
    """Complete lines only: a kill may cut the last one short."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1]


def received_ids(path: Path) -> list[str]:
    return [json.loads(line)[0] for line in lines(path)]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_consumer_killed_before_its_ack_loses_nothing(
        bus_url: str, make_bus: Callable[..., Bus], party: str,
        spawn: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    bus = make_bus()
    bus.declare([party])
    bus.publish(party, b"precious", message_id="m1")
    held = tmp_path / "held.txt"

    holder = spawn("hold", bus_url, party, str(held))
    wait_for(lambda: bool(lines(held)), 15, "the doomed consumer to receive the message")
    kill(holder)
    got: list[Delivery] = []
    bus.consume(party, got.append, idle_timeout=2.5)

    assert received_ids(held) == ["m1"]
    assert [(d.message_id, d.body) for d in got] == [("m1", b"precious")]
    assert got[0].redelivered and got[0].delivery_count >= 2


def test_random_kills_of_producers_and_consumers_lose_no_confirmed_message(
        bus_url: str, make_bus: Callable[..., Bus], party: str,
        spawn: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    bus = make_bus()
    bus.declare([party])
    confirmed, received = tmp_path / "confirmed.txt", tmp_path / "received.txt"
    cut_short = 0

    for round_ in range(6):
        before = len(lines(confirmed))
        batch, count = rng.choice([("1", 5000), ("20", 12000)])
        producer = spawn("produce", bus_url, party, f"r{round_}", str(count), batch,
                         str(confirmed))
        consumer = spawn("consume", bus_url, party, str(received), "30")
        victims = [producer, consumer]
        rng.shuffle(victims)
        # The kill times count from the producer's first confirm, not from its spawn: on a
        # loaded machine starting Python can take longer than the whole window.
        wait_for(lambda before=before: len(lines(confirmed)) > before, 30,
                 "the producer to confirm its first message")
        time.sleep(rng.uniform(0.2, 0.9))
        kill(victims[0])
        time.sleep(rng.uniform(0.0, 0.3))
        kill(victims[1])
        cut_short += len(lines(confirmed)) - before < count

    leftover: list[Delivery] = []
    bus.consume(party, leftover.append, prefetch=200, idle_timeout=1.5)  # > one lease
    delivered = set(received_ids(received)) | {d.message_id for d in leftover}
    sent = set(lines(confirmed))

    assert len(sent) > 100, f"seed {seed}: the producers confirmed too little to prove much"
    assert cut_short >= 3, f"seed {seed}: the kills did not land mid-stream"
    missing = sent - delivered
    assert not missing, f"seed {seed}: {len(missing)} confirmed messages lost, e.g. {sorted(missing)[:5]}"


@pytest.mark.parametrize("transport", ["embedded"])
def test_two_producers_and_two_consumers_share_one_file_without_loss(
        bus_url: str, make_bus: Callable[..., Bus],
        spawn: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    make_bus().declare(["hub"])
    confirmed = [tmp_path / "confirmed-a.txt", tmp_path / "confirmed-b.txt"]
    received = [tmp_path / "received-1.txt", tmp_path / "received-2.txt"]

    procs = [
        spawn("produce", bus_url, "hub", "a", "1000", "1", str(confirmed[0])),
        spawn("produce", bus_url, "hub", "b", "1000", "50", str(confirmed[1])),
        spawn("consume", bus_url, "hub", str(received[0]), "2.0"),
        spawn("consume", bus_url, "hub", str(received[1]), "2.0"),
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()

    sent = lines(confirmed[0]) + lines(confirmed[1])
    got = received_ids(received[0]) + received_ids(received[1])
    assert len(sent) == 2000
    assert sorted(got) == sorted(sent)  # every one, and each exactly once without crashes
    assert received_ids(received[0]) and received_ids(received[1])  # both did work
