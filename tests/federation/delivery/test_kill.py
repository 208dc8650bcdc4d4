"""Real processes killed at random: every message is applied exactly once, in order, and
acknowledged back.

Four delivery_worker.py processes run: the sender's relay (publishes the outbox) and consumer
(receives the acks), the receiver's consumer (applies the pings) and relay (sends the acks).
A thread of the test writes numbered pings into the sender's outbox, one to three per
transaction, while the main thread SIGKILLs one of the four at a random moment and starts it
again, for 50 rounds and more; then everything drains and the receiver's effect table, which
has no unique constraint (a message applied twice would show as two rows), is checked along
with both parties' stream positions, outboxes, parked messages and quarantines.

The same kills at their exact moments (FEDERATION.md: a relay between publish and marking
sent, a consumer between commit and ack) are a test of their own, and so are the other bus
failures it lists: a broker outage (RabbitMQ: a relay pointed at a dead port, then every
connection of the vhost cut while messages flow) and publishing before the destination's queue
exists. A real broker restart and a broker down for a minute are test_broker_faults.py's, on a
private RabbitMQ node.

Two stacks: the embedded bus with SQLite databases, and RabbitMQ with PostgreSQL databases
(skipped when either is unreachable, failed under CI=true). The workers are forked by a
spawner process (delivery_worker.py explains why), so a restart costs milliseconds.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import send
from federation.delivery.keystore import remember_key
from federation.delivery.models import (
    FederationModel,
    InboxMessage,
    OutboxMessage,
    ParkedMessage,
    QuarantinedMessage,
    Stream,
)
from federation.keys import SigningKey, utcnow
from federation.transport import Bus, TransportError, open_bus
from shared.db.session import Database, transaction
from shared.testing.backends import fresh_pg_database
from shared.testing.rabbitmq import amqp_url
from tests.federation.delivery.brokers import close_vhost_connections, dead_broker_url
from tests.federation.delivery.delivery_worker import PING, Effect, KillEffectModel

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("delivery_worker.py")

N = 300  # pings written over the kill phase
KILL_ROUNDS = 52  # at least; the issue asks for 50 or more
DRAIN_TIMEOUT = 60.0

# Short timings so that a run takes seconds: retransmission after 1 s (capped at 2 s), a resend
# request at most every 0.5 s, an unroutable peer paused 1 s then 2 s, a failed publish retried
# after 0.2 s doubling to 1 s.
TIMING: dict[str, Any] = {"retransmit_after": 1.0, "retransmit_max": 2.0,
                          "resend_interval": 0.5, "block_initial": 1.0, "block_max": 2.0,
                          "publish_retry": 0.2, "publish_retry_max": 1.0,
                          "keys_refresh": 1.0, "window": 100, "batch": 50}
BUS_OPTIONS: dict[str, Any] = {"lease_seconds": 1.0, "poll_interval": 0.02,
                               "connect_timeout": 2.0, "confirm_timeout": 5.0,
                               "heartbeat": 10.0, "retry_interval": 0.1,
                               "retry_interval_max": 0.5, "reconnect_interval_max": 1.0}
# process name -> (party, role)
ROLES = {
    "sender-relay": ("sender", "relay"),
    "sender-consumer": ("sender", "consumer"),
    "receiver-consumer": ("receiver", "consumer"),
    "receiver-relay": ("receiver", "relay"),
}
STACKS = ["embedded-sqlite", "rabbitmq-postgresql"]


@dataclasses.dataclass
class Site:
    """One party: its database (the test writes and looks at it) and its worker config."""

    id: str
    db: Database
    key: SigningKey
    config: Path


@dataclasses.dataclass
class World:
    stack: str
    bus_url: str
    vhost: str | None
    sender: Site
    receiver: Site
    bus: Bus  # the test's own: declares topology, looks at queues
    tmp: Path


# --- the world: two parties on one bus --------------------------------------------------


@pytest.fixture(params=STACKS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A sender and a receiver that trust each other's keys; no queue declared yet."""
    stack = request.param
    with contextlib.ExitStack() as cleanup:
        if stack == "embedded-sqlite":
            vhost = None
            bus_url = f"embedded://{tmp_path}/bus.sqlite3"
            urls = [f"sqlite:///{tmp_path}/{name}.db" for name in ("sender", "receiver")]
        else:
            # The session's vhost (tests/federation/conftest.py: skipped without RabbitMQ,
            # failed under CI); party ids are unique per test.
            vhost = request.getfixturevalue("rabbitmq_vhost")
            bus_url = amqp_url(vhost)
            urls = [cleanup.enter_context(fresh_pg_database("partynet_kill")) for _ in "sr"]
        yield build_world(stack, bus_url, vhost, urls, tmp_path, cleanup)


def build_world(stack: str, bus_url: str, vhost: str | None, urls: list[str], tmp_path: Path,
                cleanup: contextlib.ExitStack, *, timing: dict[str, Any] = TIMING,
                bus_options: dict[str, Any] = BUS_OPTIONS) -> World:
    """The sender's and receiver's tables, keys and worker configs (test_broker_faults.py
    builds its worlds on a private broker with this too)."""
    ready_dir = tmp_path / "ready"
    ready_dir.mkdir()
    sites = []
    for prefix, url in zip("sr", urls, strict=True):
        party = f"{prefix}{secrets.token_hex(4)}"
        db = Database()
        db.configure(url)
        cleanup.callback(db.dispose)
        assert db.engine is not None
        FederationModel.metadata.create_all(db.engine)
        KillEffectModel.metadata.create_all(db.engine)
        key = SigningKey.generate()
        key_file = tmp_path / f"{party}.key"
        key_file.touch(mode=0o600)
        key_file.write_text(key.to_text(), encoding="utf-8")
        config = tmp_path / f"{party}.json"
        config.write_text(json.dumps({
            "party": party, "db_url": url, "bus_url": bus_url, "bus_options": bus_options,
            "timing": timing, "key_file": str(key_file), "ready_dir": str(ready_dir),
            "relay_idle": 0.05, "batch_size": 50,
            "outcomes_file": str(tmp_path / f"outcomes-{party}.txt")}), encoding="utf-8")
        sites.append(Site(party, db, key, config))
    sender, receiver = sites
    now = utcnow()
    for me, peer in ((sender, receiver), (receiver, sender)):
        with transaction(me.db) as session:
            remember_key(session, peer.key.public_key(
                peer.id, valid_from=now - dt.timedelta(days=1),
                valid_until=now + dt.timedelta(days=1)))
    bus = open_bus(bus_url, **bus_options)
    cleanup.callback(bus.close)
    return World(stack, bus_url, vhost, sender, receiver, bus, tmp_path)


class Workers:
    """The worker processes of one test, by name, forked by one delivery_worker.py spawner
    (restarts take milliseconds, not an interpreter start); a kill is told apart from a crash."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pids: dict[str, int] = {}
        self.logs = world.tmp / "logs"
        self.logs.mkdir()
        self.ready_dir = world.tmp / "ready"
        self.kills: collections.Counter[str] = collections.Counter()
        self.exited: dict[int, int] = {}  # pid -> exit code, of workers that ended by themselves
        with open(self.logs / "spawner.log", "ab") as log:
            self.spawner = subprocess.Popen(
                [sys.executable, str(WORKER), "spawner"], cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True)

    def _ask(self, **request: Any) -> dict[str, Any]:
        assert self.spawner.stdin is not None and self.spawner.stdout is not None
        self.spawner.stdin.write(json.dumps(request) + "\n")
        self.spawner.stdin.flush()
        reply = self.spawner.stdout.readline()
        if not reply:
            raise AssertionError(f"the spawner died:\n{self.log('spawner')}")
        return dict(json.loads(reply))

    def start(self, name: str, bus_url: str | None = None, fault: str | None = None) -> None:
        assert name not in self.pids, f"{name} is running already"
        side, role = ROLES[name]
        site: Site = getattr(self.world, side)
        self.pids[name] = int(self._ask(cmd="start", config=str(site.config), role=role,
                                        bus_url=bus_url, fault=fault,
                                        log=str(self.logs / f"{name}.log"))["pid"])

    def ready(self, name: str) -> bool:
        pid = self.pids.get(name)
        return pid is not None and (self.ready_dir / str(pid)).exists()

    def kill(self, name: str, *, counted: bool = True) -> None:
        pid = self.pids.pop(name)
        code = self._ask(cmd="kill", pid=pid)["code"]
        assert code == -signal.SIGKILL, \
            f"{name} ended with {code} before the kill:\n{self.log(name)}"
        (self.ready_dir / str(pid)).unlink(missing_ok=True)  # pids get reused
        self.kills[name] += counted

    def _poll(self) -> dict[int, int]:
        """Every worker that ended by itself so far (the spawner reports each one once)."""
        reported = self._ask(cmd="poll")["exited"]
        self.exited.update((int(pid), code) for pid, code in reported.items())
        return self.exited

    def wait_exit(self, name: str, timeout: float) -> int:
        """Wait until `name` ends by itself; its exit code (-9: it SIGKILLed itself)."""
        pid, deadline = self.pids[name], time.monotonic() + timeout
        while pid not in self._poll():
            assert time.monotonic() < deadline, f"{name} did not end:\n{self.log(name)}"
            time.sleep(0.05)
        del self.pids[name]
        return self.exited.pop(pid)

    def check(self) -> None:
        """Fail at once, with its log, if a worker died without being killed."""
        exited = self._poll()
        for name, pid in self.pids.items():
            if pid in exited:
                raise AssertionError(f"{name} exited by itself (code {exited[pid]}):\n"
                                     f"{self.log(name)}")

    def log(self, name: str, chars: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name, 1500)}" for name in ROLES)

    def stop_all(self) -> None:
        """The end of a test (not a fault): SIGKILL too, but not counted."""
        for name in list(self.pids):
            self.kill(name, counted=False)

    def close(self) -> None:
        """Kill what still runs; the spawner ends when its stdin closes."""
        with contextlib.suppress(AssertionError, OSError, ValueError):
            self.stop_all()
        assert self.spawner.stdin is not None
        with contextlib.suppress(OSError):
            self.spawner.stdin.close()
        try:
            self.spawner.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.spawner.kill()
            self.spawner.wait()
        assert self.spawner.stdout is not None
        self.spawner.stdout.close()


@pytest.fixture
def workers(world: World) -> Iterator[Workers]:
    started = Workers(world)
    yield started
    started.close()


# --- looking at the parties --------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             check: Callable[[], None] | None = None,
             details: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(0.1)


def query(site: Site, statement: sa.Executable) -> list[Any]:
    assert site.db.engine is not None
    with site.db.engine.connect() as conn:
        return list(conn.execute(statement))


def count(site: Site, model: Any, *where: Any) -> int:
    [(n,)] = query(site, sa.select(sa.func.count()).select_from(model).where(*where))
    return int(n)


def stream(site: Site, peer: str) -> Any:
    rows = query(site, sa.select(Stream.__table__).where(Stream.peer == peer))
    return rows[0] if rows else None


def applied(world: World) -> int:
    row = stream(world.receiver, world.sender.id)
    return row.in_applied_up_to if row is not None else 0


def snapshot(world: World) -> str:
    sender_stream = stream(world.sender, world.receiver.id)
    return (f"receiver applied up to {applied(world)}, effects "
            f"{count(world.receiver, Effect)}, parked {count(world.receiver, ParkedMessage)}; "
            f"sender outbox {count(world.sender, OutboxMessage)}, "
            f"stream {sender_stream and sender_stream._asdict()}; receiver outbox "
            f"{count(world.receiver, OutboxMessage)}; quarantined "
            f"{count(world.sender, QuarantinedMessage)}+"
            f"{count(world.receiver, QuarantinedMessage)}")


def write_pings(world: World, numbers: Iterable[int], rng: random.Random) -> list[str]:
    """Numbered pings into the sender's outbox, one to three per transaction."""
    numbers = list(numbers)
    ids: list[str] = []
    while numbers:
        size = rng.randint(1, 3)
        chunk, numbers = numbers[:size], numbers[size:]
        with transaction(world.sender.db) as session:
            for n in chunk:
                ids.append(send(session, PING, destination=world.receiver.id, data={"n": n}))
    return ids


def outcomes(world: World, site: Site) -> collections.Counter[str]:
    """What the site's consumers noted: duplicates, parked (out of order), quarantined."""
    path = world.tmp / f"outcomes-{site.id}.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return collections.Counter(line.split()[0] for line in lines if line.strip())


def drain(world: World, workers: Workers, total: int, context: str) -> None:
    """Bounded wait until the receiver applied all and recorded its ack of all, and both
    outboxes are empty (the sender's: every message acknowledged)."""
    def done() -> bool:
        receiving = stream(world.receiver, world.sender.id)
        return (receiving is not None and receiving.in_applied_up_to >= total
                and receiving.in_acked_up_to >= total
                and count(world.sender, OutboxMessage) == 0
                and count(world.receiver, OutboxMessage) == 0)

    wait_for(done, DRAIN_TIMEOUT, f"delivery to drain ({context})", check=workers.check,
             details=lambda: f"{snapshot(world)}\n{workers.all_logs()}")


def assert_exactly_once(world: World, message_ids: list[str], context: str) -> None:
    total = len(message_ids)
    effects = query(world.receiver, sa.select(Effect.message_id, Effect.sequence, Effect.n,
                                              Effect.source).order_by(Effect.id))
    times = collections.Counter(row.message_id for row in effects)
    doubles = {m: c for m, c in times.items() if c > 1}
    assert not doubles, f"{context}: {len(doubles)} messages applied more than once: {doubles}"
    missing = set(message_ids) - set(times)
    assert not missing, f"{context}: {len(missing)} messages never applied"
    assert set(times) == set(message_ids), f"{context}: effects of messages nobody sent"
    assert {row.source for row in effects} == {world.sender.id}
    # Applied in stream order, and the stream order is the order they were written in.
    assert [row.sequence for row in effects] == list(range(1, total + 1)), \
        f"{context}: not applied in sequence order"
    assert [row.n for row in effects] == list(range(1, total + 1)), \
        f"{context}: the stream order is not the order the messages were written in"
    receiving = stream(world.receiver, world.sender.id)
    assert (receiving.in_applied_up_to, receiving.in_acked_up_to) == (total, total), \
        f"{context}: {receiving}"
    sending = stream(world.sender, world.receiver.id)
    assert (sending.out_sequence, sending.out_acked_up_to) == (total, total), \
        f"{context}: {sending}"
    assert count(world.sender, OutboxMessage) == 0, f"{context}: unacknowledged messages left"
    assert count(world.receiver, ParkedMessage) == 0, context
    assert count(world.receiver, InboxMessage, InboxMessage.sequence.is_not(None)) == total
    for site in (world.sender, world.receiver):
        held = query(site, sa.select(QuarantinedMessage.reason, QuarantinedMessage.detail))
        assert held == [], f"{context}: quarantined at {site.id}: {held}"


class Writer(threading.Thread):
    """Writes pings 1..total into the sender's outbox, one to three per transaction, about
    20 a second: the business transactions that go on while the workers are being killed."""

    def __init__(self, world: World, total: int, rng: random.Random,
                 pause: tuple[float, float] = (0.05, 0.15)) -> None:
        super().__init__(name="outbox-writer", daemon=True)
        self.world, self.total, self.rng, self.pause = world, total, rng, pause
        self.message_ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = 0
            while n < self.total:
                size = min(self.rng.randint(1, 3), self.total - n)
                self.message_ids += write_pings(self.world, range(n + 1, n + size + 1),
                                                self.rng)
                n += size
                time.sleep(self.rng.uniform(*self.pause))
        except BaseException as exc:  # handed to the test thread
            self.error = exc
        finally:
            self.world.sender.db.session.remove()


# --- the tests ---------------------------------------------------------------------------


def test_random_kills_apply_every_message_exactly_once_in_order(
        world: World, workers: Workers) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    context = f"{world.stack}, seed {seed}"
    world.bus.declare([world.sender.id, world.receiver.id])
    for name in ROLES:
        workers.start(name)
    writer = Writer(world, N, random.Random(seed + 1))
    writer.start()
    # in_flight: kills while the sender had unacknowledged messages (36-57 of 60 when tried)
    rounds = in_flight = 0
    started = time.monotonic()

    while rounds < KILL_ROUNDS or writer.is_alive():
        time.sleep(rng.uniform(0.05, 0.5))
        workers.check()
        wait_for(lambda: any(workers.ready(name) for name in ROLES), 30,
                 "a worker to be up", check=workers.check)
        victim = rng.choice([name for name in ROLES if workers.ready(name)])
        in_flight += count(world.sender, OutboxMessage) > 0
        workers.kill(victim)
        workers.start(victim)
        rounds += 1
    writer.join()
    if writer.error is not None:
        raise writer.error
    applied_while_killing = applied(world)
    killing = time.monotonic() - started

    drain(world, workers, N, context)
    workers.stop_all()
    print(f"\n{context}: {rounds} kills {dict(workers.kills)} in {killing:.1f} s "
          f"({in_flight} with messages in flight, {applied_while_killing}/{N} applied "
          f"meanwhile), drained in {time.monotonic() - started - killing:.1f} s; the "
          f"receiver saw {dict(outcomes(world, world.receiver))}, the sender "
          f"{dict(outcomes(world, world.sender))}")

    assert len(writer.message_ids) == N
    assert rounds >= 50 and sum(workers.kills.values()) == rounds
    assert all(workers.kills[name] >= 3 for name in ROLES), (context, workers.kills)
    assert in_flight >= rounds // 3, f"{context}: only {in_flight} kills landed mid-stream"
    assert applied_while_killing > 0, f"{context}: nothing got through during the kills"
    assert_exactly_once(world, writer.message_ids, context)


@pytest.mark.parametrize("world", ["rabbitmq-postgresql"], indirect=True)
def test_a_broker_outage_delays_messages_but_loses_and_doubles_none(
        world: World, workers: Workers) -> None:
    assert world.vhost is not None
    rng = random.Random(1)
    world.bus.declare([world.sender.id, world.receiver.id])
    for name in ("receiver-consumer", "receiver-relay", "sender-consumer"):
        workers.start(name)
    # The relay's broker is down (nothing listens where it connects): the rows wait.
    workers.start("sender-relay", bus_url=dead_broker_url(world.vhost))
    message_ids = write_pings(world, range(1, 41), rng)
    wait_for(lambda: count(world.sender, OutboxMessage, OutboxMessage.last_error.is_(None)) == 0,
             30, "the relay to fail to publish every row", check=workers.check,
             details=lambda: snapshot(world))
    assert count(world.sender, OutboxMessage, OutboxMessage.attempts > 0) == 0
    assert count(world.receiver, Effect) == 0
    assert "publish failed" in workers.log("sender-relay")

    # The broker is back for the relay; then every connection of the vhost is cut, three
    # times, while messages flow (publishes fail mid-confirm, consumers lose their channel).
    workers.kill("sender-relay")
    workers.start("sender-relay")
    for cut in range(3):
        before = applied(world)
        message_ids += write_pings(world, range(41 + 20 * cut, 61 + 20 * cut), rng)
        wait_for(lambda: applied(world) > before, 30, "messages to flow again",  # noqa: B023
                 check=workers.check, details=lambda: snapshot(world))
        close_vhost_connections(world.vhost, f"partynet test: broker outage {cut + 1}")
    message_ids += write_pings(world, range(101, 121), rng)
    drain(world, workers, 120, "after the outages")
    workers.stop_all()

    consumers = workers.log("receiver-consumer", 10**6) + workers.log("sender-consumer", 10**6)
    assert "lost its connection" in consumers, "the consumers never saw the outage"
    assert_exactly_once(world, message_ids, "broker outage")


def test_messages_sent_before_the_destination_queue_exists_arrive_once_it_does(
        world: World, workers: Workers) -> None:
    rng = random.Random(2)
    world.bus.declare([world.sender.id])  # the exchanges and the sender's own queue only
    workers.start("sender-relay")
    workers.start("sender-consumer")
    message_ids = write_pings(world, range(1, 21), rng)

    def paused_twice() -> bool:
        row = stream(world.sender, world.receiver.id)
        return row is not None and row.blocked_until is not None and row.block_interval == 2

    # Unroutable: the destination is paused, 1 s then 2 s (block_max), and nothing was sent.
    wait_for(paused_twice, 20, "the relay to pause the unroutable destination twice",
             check=workers.check, details=lambda: snapshot(world))
    assert count(world.sender, OutboxMessage, OutboxMessage.attempts > 0) == 0
    with pytest.raises(TransportError):
        world.bus.queue_depth(world.receiver.id)  # the queue really does not exist

    workers.start("receiver-consumer")  # declares its queue
    workers.start("receiver-relay")
    drain(world, workers, 20, f"{world.stack}, after the queue was declared")
    workers.stop_all()

    paused = stream(world.sender, world.receiver.id)
    assert (paused.blocked_until, paused.block_interval) == (None, 0)
    assert_exactly_once(world, message_ids, f"{world.stack}, queue declared late")


def test_kills_between_publish_and_mark_and_between_commit_and_ack_apply_once(
        world: World, workers: Workers) -> None:
    """The two kills FEDERATION.md names, at their exact moments rather than by chance."""
    context = f"{world.stack}, kills at the exact moments"
    world.bus.declare([world.sender.id, world.receiver.id])
    message_ids = write_pings(world, range(1, 21), random.Random(3))

    # The relay dies after the broker confirmed its publish, before it marked anything sent.
    workers.start("sender-relay", fault="die-after-publish")
    assert workers.wait_exit("sender-relay", 20) == -signal.SIGKILL
    assert world.bus.queue_depth(world.receiver.id) == 20  # they went...
    assert count(world.sender, OutboxMessage, OutboxMessage.sequence.is_not(None),
                 OutboxMessage.attempts == 0) == 20  # ...but the sender does not know

    # The consumer dies after committing its first batch, before the broker got the ack.
    workers.start("receiver-consumer", fault="die-after-commit")
    assert workers.wait_exit("receiver-consumer", 20) == -signal.SIGKILL
    first_batch = applied(world)
    assert 1 <= first_batch <= 20 and count(world.receiver, Effect) == first_batch
    wait_for(lambda: world.bus.queue_depth(world.receiver.id) == 20, 10,
             "the unacked batch to be back in the queue")

    # A new relay publishes the 20 again (it never marked them sent): 40 copies queued.
    workers.start("sender-relay")
    wait_for(lambda: world.bus.queue_depth(world.receiver.id) >= 40, 20,
             "the relay to publish the unmarked messages again", check=workers.check)
    for name in ("receiver-consumer", "receiver-relay", "sender-consumer"):
        workers.start(name)
    drain(world, workers, 20, context)
    # Of the 40+ deliveries, 20 - first_batch were applications: every other one (the
    # redelivered first batch, the republished copies) is dropped as a duplicate or parked.
    # The embedded broker redelivers the first batch once the dead consumer's lease expires,
    # maybe after the drain: wait for them all, then check that none was applied.
    def dropped() -> int:
        seen = outcomes(world, world.receiver)
        return seen["duplicate"] + seen["parked"]

    wait_for(lambda: dropped() >= 20 + first_batch, 15,
             f"the {20 + first_batch} extra copies to be delivered and dropped",
             check=workers.check, details=lambda: str(outcomes(world, world.receiver)))
    workers.stop_all()
    assert_exactly_once(world, message_ids, context)
