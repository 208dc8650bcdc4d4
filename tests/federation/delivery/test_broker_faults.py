"""The broker itself fails, for real, while two parties exchange a stream of sequenced pings:
restarted mid-stream (a clean restart of the whole node, then a crash: SIGKILL and start over
its data), and down for a whole minute while the sender keeps writing. Every message must be
applied exactly once, in order, and acknowledged end to end; the workers must ride it out on
their own (none may exit); and during the outage the sender's backlog grows in the database
while its relay backs off.

The four workers are real processes (test_kill.py's spawner: the sender's relay and consumer,
the receiver's consumer and relay), with the databases on PostgreSQL for RabbitMQ.

RabbitMQ: a private node (shared/testing/rabbitmq.py, PrivateRabbitMQ), started once for this
module and stopped at its end, so that stopping it disturbs no other test (the shared broker on
5672 is not touched). The RabbitMQ tests share one xdist group: they run one after the other on
one worker (they share the node) and beside the rest of the suite.

The embedded transport has no broker process: the restart half is skipped by design (the bus
is an SQLite file each worker opens itself, so there is nothing to restart; killed workers are
test_kill.py's business). Its "down for a minute" is the bus file locked for a minute by
another connection's write transaction (a backup, a stuck process): every publish and every
claim fails, as they do against a stopped broker.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import send
from federation.delivery.models import OutboxMessage
from federation.delivery.stats import delivery_stats
from federation.keys import utcnow
from federation.transport import open_bus
from shared.db.session import Database, transaction
from shared.testing.backends import fresh_pg_database
from shared.testing.rabbitmq import PrivateRabbitMQ, private_rabbitmq
from tests.federation.delivery import test_kill
from tests.federation.delivery.delivery_worker import PING
from tests.federation.delivery.test_kill import (
    Workers,
    World,
    applied,
    assert_exactly_once,
    build_world,
    count,
    drain,
    outcomes,
    snapshot,
    stream,
    wait_for,
    write_pings,
)

RABBITMQ, EMBEDDED = "rabbitmq-postgresql", "embedded-sqlite"
#: The RabbitMQ tests share the private node: one group, so they serialize with each other.
BROKER_GROUP = pytest.mark.xdist_group("private-rabbitmq")
#: The embedded minute needs no broker: a group of its own runs it beside the RabbitMQ ones.
EMBEDDED_GROUP = pytest.mark.xdist_group("embedded-bus-outage")

pytestmark = pytest.mark.slow

OUTAGE = 60.0  # seconds: "a broker down for a minute", a real one
SAMPLE_EVERY = 5.0
# Test timings (test_kill.py's), with the relay's publish retry at 0.5 s doubling to 5 s: the
# production default caps at 30 s, which would only make the drain wait longer.
TIMING: dict[str, Any] = {**test_kill.TIMING, "publish_retry": 0.5, "publish_retry_max": 5.0}
# The embedded broker: a lock held past 1 s fails the call, as a refused connection does.
BUS_OPTIONS: dict[str, Any] = {**test_kill.BUS_OPTIONS, "busy_timeout": 1.0}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitMQ]:
    """One private RabbitMQ node for the module (skipped where RabbitMQ is not installed,
    failed under CI)."""
    with private_rabbitmq(tmp_path_factory.mktemp("private-rabbitmq")) as node:
        print(f"\nprivate RabbitMQ {node.node} started in {node.start_seconds[0]:.1f} s")
        yield node


def open_world(stack: str, request: pytest.FixtureRequest, tmp_path: Path,
               cleanup: contextlib.ExitStack) -> World:
    if stack == EMBEDDED:
        bus_url = f"embedded://{tmp_path}/bus.sqlite3"
        urls = [f"sqlite:///{tmp_path}/{name}.db" for name in ("sender", "receiver")]
    else:
        node: PrivateRabbitMQ = request.getfixturevalue("broker")
        bus_url = node.url()  # the default vhost: party ids are unique per test
        urls = [cleanup.enter_context(fresh_pg_database("partynet_fault")) for _ in "sr"]
    return build_world(stack, bus_url, None, urls, tmp_path, cleanup, timing=TIMING,
                       bus_options=BUS_OPTIONS)


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with contextlib.ExitStack() as cleanup:
        yield open_world(request.param, request, tmp_path, cleanup)


@pytest.fixture
def workers(world: World) -> Iterator[Workers]:
    started = Workers(world)
    yield started
    started.close()


class LockedBusFile:
    """The embedded broker "down": another connection holds the bus file's write lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def begin(self) -> None:
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        assert self.conn is not None
        self.conn.execute("ROLLBACK")
        self.conn.close()
        self.conn = None


class Stopped:
    """RabbitMQ down: the broker application stopped (clients cut off, the port closed)."""

    def __init__(self, node: PrivateRabbitMQ) -> None:
        self.node = node

    def begin(self) -> None:
        self.node.stop_app()

    def end(self) -> None:
        self.node.start_app()


def log_lines(workers: Workers, name: str, pattern: str) -> int:
    return len(re.findall(pattern, workers.log(name, 10**7)))


def failed_rounds(workers: Workers) -> int:
    """Relay rounds whose publishing failed, both relays (their WARNING lines)."""
    return sum(log_lines(workers, name, r"federation\.delivery\.relay WARNING publish failed")
               for name in ("sender-relay", "receiver-relay"))


class StreamWriter:
    """Pings n, n+1, ... into the sender's outbox, one to three per transaction, until told
    to stop; writes in the caller's thread between the caller's own checks (`write_for`)."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        self.message_ids: list[str] = []

    def write_for(self, seconds: float, pause: tuple[float, float],
                  check: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            first = len(self.message_ids) + 1
            size = self.rng.randint(1, 3)
            self.message_ids += write_pings(self.world, range(first, first + size), self.rng)
            if check is not None:
                check()
            time.sleep(min(self.rng.uniform(*pause), max(0.0, deadline - time.monotonic())))


def sent_sequence(world: World) -> int:
    """The last sequence the sender's relay gave out to the receiver."""
    row = stream(world.sender, world.receiver.id)
    return row.out_sequence if row is not None else 0


def write_until(condition: Callable[[], bool], world: World, workers: Workers,
                writer: StreamWriter, what: str, timeout: float = 60.0) -> None:
    """Keep the stream flowing (~25 pings a second) until `condition` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                 f"{snapshot(world)}\n{workers.all_logs()}")
        writer.write_for(0.5, (0.05, 0.1), check=workers.check)


# --- broker restart mid-stream -------------------------------------------------------------


# RabbitMQ only, by design: the embedded broker is an SQLite file that every worker opens
# itself, so there is no broker process to restart (a killed worker is test_kill.py's business;
# a bus file that cannot be written is the embedded half of the minute-long outage test).
@pytest.mark.parametrize("world", [pytest.param(RABBITMQ, marks=BROKER_GROUP)], indirect=True)
def test_a_broker_restarted_mid_stream_loses_and_doubles_nothing(
        world: World, request: pytest.FixtureRequest) -> None:
    node: PrivateRabbitMQ = request.getfixturevalue("broker")
    workers = request.getfixturevalue("workers")
    context = f"{world.stack}, broker restarts"
    writer = StreamWriter(world, random.Random(11))
    world.bus.declare([world.sender.id, world.receiver.id])
    for name in test_kill.ROLES:
        workers.start(name)

    def flowing(after: int) -> None:
        target = applied(world) + after
        write_until(lambda: applied(world) >= target, world, workers, writer,
                    f"{after} more pings applied")

    restarts: list[dict[str, Any]] = []
    for how in ("clean restart", "crash"):
        flowing(after=60)
        # A burst, and the broker goes as soon as the relay started on it: messages in the
        # queue or on their way to the consumer, others still in the outbox. (Should all of
        # it be through and acknowledged already, another burst.)
        in_flight = 0
        for _ in range(10):
            first, numbered = len(writer.message_ids) + 1, sent_sequence(world)
            writer.message_ids += write_pings(world, range(first, first + 100), writer.rng)
            wait_for(lambda: sent_sequence(world) > numbered, 30,  # noqa: B023
                     f"the relay to start on the burst before the {how}",
                     check=workers.check,
                     details=lambda: f"{snapshot(world)}\n{workers.all_logs()}")
            in_flight = count(world.sender, OutboxMessage)
            if in_flight:
                break
        down = time.monotonic()
        if how == "clean restart":
            node.stop()  # rabbitmqctl stop: the whole Erlang node goes
        else:
            node.kill()  # SIGKILL: no goodbye to any client, the queues recover from disk
        writer.write_for(2.0, (0.05, 0.1), check=workers.check)  # the sender does not wait
        node.start()
        restarts.append({"how": how, "unacked_when_stopped": in_flight,
                         "down_s": round(time.monotonic() - down, 1),
                         "start_s": round(node.start_seconds[-1], 1)})
        assert in_flight > 0, f"{context}: nothing was in flight at the {how}"
    flowing(after=80)
    up = time.monotonic()
    total = len(writer.message_ids)
    drain(world, workers, total, context)
    drained = time.monotonic() - up
    workers.check()
    workers.stop_all()
    print(f"\n{context}: {total} pings, {restarts}; drained {drained:.1f} s after the last "
          f"writes; failed relay rounds {failed_rounds(workers)}; the receiver dropped "
          f"{dict(outcomes(world, world.receiver))}")

    for name in ("receiver-consumer", "sender-consumer"):
        assert log_lines(workers, name, "lost its connection") >= 2, \
            f"{context}: {name} never saw the broker go:\n{workers.log(name)}"
    assert total >= 300
    assert_exactly_once(world, writer.message_ids, context)


# --- broker down for a minute --------------------------------------------------------------


@pytest.mark.parametrize("world", [pytest.param(RABBITMQ, marks=BROKER_GROUP),
                                   pytest.param(EMBEDDED, marks=EMBEDDED_GROUP)],
                         indirect=True)
def test_a_broker_down_for_a_minute_delays_messages_but_loses_and_doubles_none(
        world: World, workers: Workers, request: pytest.FixtureRequest) -> None:
    context = f"{world.stack}, down for a minute"
    outage: LockedBusFile | Stopped
    if world.stack == EMBEDDED:
        outage = LockedBusFile(world.bus_url.split("://", 1)[1])
    else:
        outage = Stopped(request.getfixturevalue("broker"))
    writer = StreamWriter(world, random.Random(12))
    world.bus.declare([world.sender.id, world.receiver.id])
    for name in test_kill.ROLES:
        workers.start(name)

    # Flowing until the receiver applied 50; the broker goes mid-stream.
    write_until(lambda: applied(world) >= 50, world, workers, writer, "50 pings applied")
    before = len(writer.message_ids)
    outage.begin()
    down = time.monotonic()
    rounds_before = failed_rounds(workers)
    try:
        # A minute without a broker, the sender writing ~5 pings a second all along; every
        # SAMPLE_EVERY seconds, what /readyz and `bus status` show, and the outbox rows.
        samples: list[dict[str, Any]] = []
        while (elapsed := time.monotonic() - down) < OUTAGE:
            writer.write_for(min(SAMPLE_EVERY, OUTAGE - elapsed), (0.3, 0.5),
                             check=workers.check)
            with transaction(world.sender.db) as session:
                stats = delivery_stats(session, utcnow())
                failing = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                         .where(OutboxMessage.last_error.is_not(None)))
            samples.append({"t": round(time.monotonic() - down), "backlog": stats.backlog,
                            "lag_s": stats.lag_seconds, "failing": failing})
        applied_during = applied(world)
        rounds = failed_rounds(workers) - rounds_before
    finally:  # back even if the test failed: the module's other tests share the broker
        outage.end()
    up = time.monotonic()
    total = len(writer.message_ids)
    drain(world, workers, total, context)
    drained = time.monotonic() - up
    workers.check()
    workers.stop_all()
    dropped = outcomes(world, world.receiver)
    print(f"\n{context}: {before} pings before, {total - before} during the outage; "
          f"samples {samples}; failed relay rounds during it: {rounds}; drained "
          f"{drained:.1f} s after the broker returned; the receiver dropped {dict(dropped)}")

    assert applied_during <= before, f"{context}: messages got through a dead broker"
    backlogs = [s["backlog"] for s in samples]
    assert backlogs == sorted(backlogs) and backlogs[-1] >= backlogs[0] + 150, \
        f"{context}: the backlog did not grow during the outage: {samples}"
    assert [s["lag_s"] for s in samples] == sorted(s["lag_s"] for s in samples)
    assert samples[-1]["failing"] > 0, f"{context}: no publish failure recorded: {samples}"
    # Backing off: with retries every 0.5 s doubling to 5 s, a minute is about 15 failed
    # rounds per relay; a relay retrying every second (or in a tight loop) would make 60+.
    assert 2 <= rounds <= 40, f"{context}: {rounds} failed relay rounds in a minute"
    if world.stack == RABBITMQ:  # an embedded consumer with nothing to claim only reads
        for name in ("receiver-consumer", "sender-consumer"):
            assert log_lines(workers, name, "lost its connection") >= 1, \
                f"{context}: {name} never saw the broker go:\n{workers.log(name)}"
    assert_exactly_once(world, writer.message_ids, context)


# --- a worker started while the broker is down ----------------------------------------------

CLI_WORKER = Path(__file__).with_name("cli_worker.py")


@BROKER_GROUP
def test_a_bus_worker_started_while_the_broker_is_down_waits_for_it(
        broker: PrivateRabbitMQ, tmp_path: Path) -> None:
    """`bus worker` (federation/delivery/cli.py, as node and hub run it) does not exit when the
    broker is away at its start: it retries, and works once the broker is back."""
    me, peer = f"w{secrets.token_hex(4)}", f"p{secrets.token_hex(4)}"
    db_url = f"sqlite:///{tmp_path}/worker.db"
    log_path = tmp_path / "worker.log"
    admin = open_bus(broker.url(), **BUS_OPTIONS)
    admin.declare([peer])

    def log() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")

    worker: subprocess.Popen[bytes] | None = None
    broker.stop_app()
    try:
        with open(log_path, "ab") as out:
            worker = subprocess.Popen(
                [sys.executable, str(CLI_WORKER), db_url, me, broker.url(), "worker"],
                cwd=test_kill.ROOT, env={**os.environ, "PYTHONPATH": str(test_kill.ROOT)},
                stdout=subprocess.DEVNULL, stderr=out)
        try:
            wait_for(lambda: log().count("broker unavailable") >= 2 or worker.poll() is not None,
                     60, "the worker to retry the broker")
            assert worker.poll() is None, f"the worker exited:\n{log()[-3000:]}"
            db = Database()
            db.configure(db_url)
            with transaction(db) as session:  # the application goes on writing meanwhile
                send(session, PING, destination=peer, data={"n": 1})
            db.dispose()
        finally:
            broker.start_app()
        wait_for(lambda: admin.queue_depth(peer) >= 1, 60,
                 "the worker's relay to publish once the broker is back",
                 details=lambda: log()[-3000:])
        assert admin.queue_depth(me) == 0  # its own queue was declared once it could be
        assert worker.poll() is None, f"the worker exited:\n{log()[-3000:]}"
        assert "lost its connection" in log()  # its consumer thread rode the outage out too
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log()[-3000:]
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        admin.close()


@BROKER_GROUP
def test_a_bus_worker_the_broker_refuses_exits_with_an_error(
        broker: PrivateRabbitMQ, tmp_path: Path) -> None:
    """A refusal (here a wrong password) is no outage to wait out: it needs an operator, so
    the worker fails at once, with a non-zero status a supervisor acts on."""
    url = broker.url().replace("guest:guest@", "guest:wrong@")
    done = subprocess.run(
        [sys.executable, str(CLI_WORKER), f"sqlite:///{tmp_path}/worker.db",
         f"w{secrets.token_hex(4)}", url, "worker"],
        cwd=test_kill.ROOT, env={**os.environ, "PYTHONPATH": str(test_kill.ROOT)},
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0, done.stderr[-3000:]
    assert "ACCESS_REFUSED" in done.stderr
    assert '"message": "worker thread failed"' in done.stderr  # a JSON log line
    assert "broker unavailable" not in done.stderr
