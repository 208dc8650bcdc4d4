"""The bus commands every app has: relay, consume, worker, status, quarantine.

An app adds them to its own `bus` group, giving how to build its party and its bus, and any
periodic jobs its relay runs beside (the node's heartbeats and statistics).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click

from federation.delivery.consumer import Consumer
from federation.delivery.party import Party
from federation.delivery.quarantine import held
from federation.delivery.relay import Relay
from federation.delivery.stats import delivery_stats
from federation.keys import utcnow
from federation.transport import BrokerUnavailable, Bus, open_bus
from shared.db.session import Database, transaction
from shared.logs import configure_json_logging

#: A job the relay process runs beside it until the stop event is set.
Job = Callable[[threading.Event], None]

logger = logging.getLogger("partynet")

#: A broker that is down when a worker starts is waited for, up to this long between tries.
DECLARE_RETRY_MAX = 30.0


def declare_own_queue(bus: Bus, party: str, stop: threading.Event,
                      first_retry: float = 0.5) -> bool:
    """Make sure our queue exists (so that peers can route to us), waiting for a broker that
    is down instead of exiting: a worker started during an outage rides it out like a running
    one. False if stopped first. A refusal (permissions, topology) still ends the worker: it
    needs an operator, and a crash says so louder than a log line."""
    delay = first_retry
    while not stop.is_set():
        try:
            bus.declare([party])
            return True
        except BrokerUnavailable as exc:
            logger.warning("broker unavailable", extra={"error": str(exc)[:500],
                                                        "retry_in_seconds": delay})
            stop.wait(delay)
            delay = min(delay * 2, DECLARE_RETRY_MAX)
    return False


def add_bus_commands(group: click.Group, *, load_app: Callable[[], Any],
                     party: Callable[[], Party], bus_url: Callable[[], str], db: Database,
                     peers: str, on_domain_error: Callable[[Any], Any],
                     relay_jobs: Callable[[], Sequence[Job]] = tuple) -> None:
    """`relay`, `consume`, `worker`, `status` and `quarantine ...` on `group`.

    `load_app()` configures the app (its database); `party()` builds its party (which needs its
    signing key); `peers` names who the consumer hears from, for the help text.
    """

    def run(kind: str) -> None:
        configure_json_logging()
        me = party()
        bus = open_bus(bus_url())
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

        def relay_when_declared() -> None:
            if declare_own_queue(bus, me.id, stop):
                Relay(me, bus).run(stop)

        targets: list[tuple[str, Callable[[], None]]] = []
        if kind in ("relay", "worker"):
            # The consumer declares its queue itself, and retries while the broker is away.
            targets.append(("relay", relay_when_declared))
            targets += [(f"job-{n}", lambda job=job: job(stop))
                        for n, job in enumerate(relay_jobs(), start=1)]
        if kind in ("consume", "worker"):
            targets.append(("consume", lambda: Consumer(me).run(bus, stop=stop)))
        failed: list[str] = []

        def guarded(name: str, target: Callable[[], None]) -> Callable[[], None]:
            def run_target() -> None:
                try:
                    target()
                except Exception:
                    failed.append(name)
                    logger.exception("worker thread failed", extra={"worker_thread": name})
            return run_target

        workers = [threading.Thread(target=guarded(name, target), name=name)
                   for name, target in targets]
        logger.info("started", extra={"worker": kind, "party": me.id})
        for worker in workers:
            worker.start()
        while any(w.is_alive() for w in workers):
            for worker in workers:
                worker.join(timeout=0.5)
            if not all(w.is_alive() for w in workers):
                stop.set()  # one died: stop the others, let the supervisor restart us
        bus.close()
        if failed:  # a non-zero exit: Restart=on-failure restarts it too
            raise SystemExit(f"bus {kind} stopped: {', '.join(failed)} failed")

    @group.command("relay")
    @on_domain_error
    def relay() -> None:
        """Publish the outbox, retransmit what is unacknowledged, send acks (until stopped)."""
        run("relay")

    @group.command("consume", help=f"Receive, verify and apply messages from {peers} "
                                   "(until stopped).")
    @on_domain_error
    def consume() -> None:
        run("consume")

    @group.command("worker")
    @on_domain_error
    def worker() -> None:
        """Relay and consumer in one process."""
        run("worker")

    @group.command("status")
    def status() -> None:
        """Backlog, lag, quarantine and the streams with each peer."""
        load_app()
        stats = delivery_stats(db.session(), utcnow())
        click.echo(f"backlog {stats.backlog}, lag {stats.lag_seconds} s, parked {stats.parked}, "
                   f"quarantined {sum(stats.quarantined.values())}")
        for peer in stats.peers:
            click.echo(f"  {peer.peer}: sent {peer.sent}, acked {peer.acked}, "
                       f"applied {peer.applied}")

    @group.group("quarantine")
    def quarantine() -> None:
        """Messages that were not applied: inspect, release or discard."""

    @quarantine.command("list")
    @click.option("--status", "state", default="held",
                  type=click.Choice(["held", "released", "discarded", "all"]))
    @click.option("--reason", default=None)
    @click.option("--limit", default=50, type=click.IntRange(1, 1000))
    def quarantine_list(state: str, reason: str | None, limit: int) -> None:
        load_app()
        with transaction(db) as session:
            rows = held(session, status=None if state == "all" else state, reason=reason,
                        limit=limit)
            for row in rows:
                click.echo(f"{row.id}\t{row.status}\t{row.reason}\t{row.source or '-'}\t"
                           f"{row.type or '-'}\t×{row.times_seen}\t{row.detail[:80]}")
            if not rows:
                click.echo("nothing quarantined")

    @quarantine.command("release")
    @click.argument("entry_id", type=click.IntRange(1))
    @click.option("--by", required=True, help="Who decides (recorded).")
    @click.option("--note", default="")
    @on_domain_error
    def quarantine_release(entry_id: int, by: str, note: str) -> None:
        """Check ENTRY_ID again (without the clock window) and receive it."""
        outcome = Consumer(party()).release(entry_id, by=by, note=note)
        click.echo(f"released {entry_id}: {outcome.value}")

    @quarantine.command("discard")
    @click.argument("entry_id", type=click.IntRange(1))
    @click.option("--by", required=True, help="Who decides (recorded).")
    @click.option("--note", default="")
    @on_domain_error
    def quarantine_discard(entry_id: int, by: str, note: str) -> None:
        Consumer(party()).discard(entry_id, by=by, note=note)
        click.echo(f"discarded {entry_id}")
