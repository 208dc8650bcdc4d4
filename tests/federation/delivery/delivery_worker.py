"""One bus party's relay or consumer as a process, for the delivery fault tests (test_kill.py):
the test SIGKILLs it at random moments and starts it again.

    python delivery_worker.py CONFIG_JSON relay|consumer [BUS_URL [FAULT]]
    python delivery_worker.py spawner          (what the tests run: see `spawner`)

CONFIG_JSON holds the party id, its database URL, the bus URL and options, the delivery
timings (seconds), the file with the party's signing key (SigningKey.to_text), a directory
where the worker touches a file named after its pid once it is about to run its loop, and
optionally a file where a consumer notes the duplicates and out-of-order arrivals it saw. BUS_URL
overrides the configured bus (a relay pointed at a dead broker). FAULT makes the worker
SIGKILL itself at the exact moment FEDERATION.md names: "die-after-publish" (a relay, once its
first publish is confirmed, before it records what went) or "die-after-commit" (a consumer,
once its first batch is committed, before the transport acks it). The tables exist already
(the test creates them and stores the peers' keys); the consumer applies pings by writing
one row to `kill_effects`.

SIGTERM stops the loop cleanly; SIGKILL is what the tests use.

Starting a Python process that imports SQLAlchemy, kombu and cryptography takes 0.6 s of CPU
here, and several seconds of wall time when the shared 2-core machine is busy: a kill test that
restarted by exec would mostly kill processes still importing. The spawner imports once and
forks a worker per request, so a restarted worker is at work within milliseconds. A forked
worker is an ordinary process with its own database and broker connections (the spawner opens
none); it is the spawner's child, so the spawner kills and reaps it, and no pid can be reused
while the test still means the old process.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from federation.delivery import Consumer, Party, Relay, Timing
from federation.envelope import Envelope
from federation.keys import SigningKey
from federation.transport import open_bus
from shared.db.session import Database

PING = "partynet.bus.ping.v1"
_DURATIONS = ("skew", "retransmit_after", "retransmit_max", "resend_interval", "block_initial",
              "block_max", "keys_refresh", "trust_horizon", "publish_retry", "publish_retry_max")


class KillEffectModel(DeclarativeBase):
    pass


class Effect(KillEffectModel):
    """One row per application of a ping. Deliberately no unique constraint: a message applied
    twice must show as two rows, not as an IntegrityError that would hide it."""

    __tablename__ = "kill_effects"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(128))
    message_id: Mapped[str] = mapped_column(sa.String(36))
    sequence: Mapped[int | None]
    n: Mapped[int]


_EFFECTS = Effect.__table__


def apply_ping(session: Session, envelope: Envelope) -> None:
    session.execute(sa.insert(_EFFECTS).values(
        source=envelope.source, message_id=envelope.id, sequence=envelope.sequence,
        n=envelope.data.get("n", 0)))


class OutcomeFile(logging.Handler):
    """Appends "outcome message_id" for the consumer's notable outcomes (duplicate, parked,
    quarantined) to a file, from its DEBUG "received" records: evidence of what a test's
    faults made the bus deliver. Written after the commit, so a kill may lose a line."""

    NOTABLE = ("duplicate", "parked", "quarantined")

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if outcome in self.NOTABLE:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(f"{outcome} {getattr(record, 'message_id', '')}\n")


class DieAfterPublish:
    """The relay's bus: the first confirmed publish_many is the process's last act."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus

    def publish_many(self, items: Any) -> None:
        self._bus.publish_many(items)
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


def die_after_commit(consumer: Consumer) -> None:
    """The first committed batch is the process's last act: the transport never acks it."""
    apply_batch = consumer.apply_batch  # what run's worker thread calls, then the ack

    def committed_then_killed(bodies: Any, prepared: Any) -> Any:
        apply_batch(bodies, prepared)
        os.kill(os.getpid(), signal.SIGKILL)

    consumer.apply_batch = committed_then_killed  # type: ignore[method-assign]


def timing_from(config: dict[str, Any]) -> Timing:
    values: dict[str, Any] = {}
    for name, value in config.items():
        values[name] = dt.timedelta(seconds=value) if name in _DURATIONS else value
    if "jitter" in values:
        values["jitter"] = tuple(values["jitter"])
    return Timing(**values)


def main(config_path: str, role: str, bus_url: str | None = None,
         fault: str | None = None) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {role}[%(process)d] %(name)s %(levelname)s "
                               "%(message)s")
    db = Database()
    db.configure(config["db_url"])
    key = SigningKey.from_text(Path(config["key_file"]).read_text(encoding="utf-8"))
    party = Party(id=config["party"], db=db, signing_key=key, handlers={PING: apply_ping},
                  timing=timing_from(config["timing"]))
    bus = open_bus(bus_url or config["bus_url"], **config["bus_options"])
    if role == "consumer" and config.get("outcomes_file"):
        consumer_log = logging.getLogger("federation.delivery.consumer")
        consumer_log.setLevel(logging.DEBUG)
        consumer_log.addHandler(OutcomeFile(config["outcomes_file"]))
        consumer_log.propagate = False  # DEBUG lines stay out of stderr
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Path(config["ready_dir"], str(os.getpid())).touch()
    if fault not in (None, "", "die-after-publish", "die-after-commit"):
        raise SystemExit(f"unknown fault {fault!r}")
    try:
        if role == "relay":
            Relay(party, DieAfterPublish(bus) if fault == "die-after-publish" else bus).run(
                stop, idle=config.get("relay_idle", 0.05))
        elif role == "consumer":
            consumer = Consumer(party)
            if fault == "die-after-commit":
                die_after_commit(consumer)
            consumer.run(bus, stop=stop, batch_size=config.get("batch_size", 50))
        else:
            raise SystemExit(f"unknown role {role!r}")
    finally:
        bus.close()
        db.dispose()


def spawner() -> None:
    """Serve JSON lines on stdin, one JSON reply line each on stdout, until stdin closes:

    {"cmd": "start", "config": PATH, "role": ROLE, "bus_url": URL|null, "fault": F|null,
     "log": PATH}
        -> {"pid": PID}            a forked worker, its stderr appended to `log`
    {"cmd": "kill", "pid": PID}   -> {"code": -9}   SIGKILL, then reaped
    {"cmd": "poll"}               -> {"exited": {PID: CODE}}   workers that ended by themselves
    """
    with contextlib.suppress(ImportError):
        import psycopg  # noqa: F401  (SQLAlchemy imports it lazily: once here, not per worker)
    children: set[int] = set()
    while line := sys.stdin.readline():
        request = json.loads(line)
        reply: dict[str, Any]
        if request["cmd"] == "start":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(request)
            children.add(pid)
            reply = {"pid": pid}
        elif request["cmd"] == "kill":
            pid = int(request["pid"])
            if pid not in children:
                raise SystemExit(f"not a worker of this spawner: {pid}")
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            children.discard(pid)
            reply = {"code": os.waitstatus_to_exitcode(status)}
        elif request["cmd"] == "poll":
            exited = {}
            for pid in sorted(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exited[pid] = os.waitstatus_to_exitcode(status)
                    children.discard(pid)
            reply = {"exited": exited}
        else:
            raise SystemExit(f"unknown command {request['cmd']!r}")
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    for pid in children:  # the test is gone: so are its workers
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _child(request: dict[str, Any]) -> None:
    """In the forked worker: own stdio, die with the spawner, run, never return."""
    code = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        main(request["config"], request["role"], request.get("bus_url"), request.get("fault"))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:] == ["spawner"]:
        spawner()
    else:
        main(*sys.argv[1:])
