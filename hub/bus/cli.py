"""`partynet hub bus ...`: the hub's signing key, its bus workers and the quarantine."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa

from federation.delivery import Consumer, Relay
from federation.delivery.quarantine import held
from federation.transport import open_bus
from hub.bus import services
from hub.db import db
from hub.keys import services as keys
from shared.db.session import transaction
from shared.logs import configure_json_logging


def bus_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
              ) -> click.Group:
    @click.group("bus")
    def group() -> None:
        """The federation bus: signing key, relay and consumer workers, quarantine."""

    def settings() -> Any:
        return make_app().extensions["hub"]

    @group.command("keygen")
    @on_domain_error
    def keygen() -> None:
        """Create the hub's Ed25519 signing key (HUB_SIGNING_KEY_FILE) and list it in the key
        directory (run `partynet hub db upgrade` first)."""
        config = settings()
        key = keys.create_signing_key(config)
        click.echo(f"created {key.key_id}")
        try:
            with transaction(db):
                keys.publish_hub_key(key, days=config.hub_key_days)
        except sa.exc.DBAPIError as exc:  # e.g. no tables yet: published at the next enrollment
            raise click.ClickException(f"{key.key_id} is not in the key directory yet "
                                       f"({type(exc.orig).__name__}); run `partynet hub db "
                                       "upgrade`: the first enrollment publishes it.") from None
        click.echo(f"published {key.key_id} in the key directory")

    def _run(kind: str) -> None:
        configure_json_logging()
        config = settings()
        party = services.hub_party(config)
        bus = open_bus(services.bus_url(config))
        bus.declare([party.id])
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        workers = []
        if kind in ("relay", "worker"):
            workers.append(threading.Thread(target=Relay(party, bus).run, args=(stop,),
                                            name="relay"))
        if kind in ("consume", "worker"):
            workers.append(threading.Thread(target=Consumer(party).run, args=(bus,),
                                            kwargs={"stop": stop}, name="consume"))
        logging.getLogger("partynet").info("started", extra={"worker": kind, "party": party.id})
        for worker in workers:
            worker.start()
        while any(w.is_alive() for w in workers):
            for worker in workers:
                worker.join(timeout=0.5)
            if not all(w.is_alive() for w in workers):
                stop.set()  # one died: stop the other, let the supervisor restart us
        bus.close()

    @group.command("relay")
    @on_domain_error
    def relay() -> None:
        """Publish the outbox, retransmit what is unacknowledged, send acks (until stopped)."""
        _run("relay")

    @group.command("consume")
    @on_domain_error
    def consume() -> None:
        """Receive, verify and apply messages from the nodes (until stopped)."""
        _run("consume")

    @group.command("worker")
    @on_domain_error
    def worker() -> None:
        """Relay and consumer in one process."""
        _run("worker")

    @group.command("status")
    def status() -> None:
        """Backlog, lag, quarantine and the streams with each node."""
        make_app()
        stats = services.stats()
        click.echo(f"backlog {stats.backlog}, lag {stats.lag_seconds} s, parked {stats.parked}, "
                   f"quarantined {sum(stats.quarantined.values())}")
        for peer in stats.peers:
            click.echo(f"  {peer.peer}: sent {peer.sent}, acked {peer.acked}, "
                       f"applied {peer.applied}")

    @group.group("quarantine")
    def quarantine() -> None:
        """Messages that were not applied: inspect, release or discard."""

    @quarantine.command("list")
    @click.option("--status", default="held", type=click.Choice(["held", "released",
                                                                   "discarded", "all"]))
    @click.option("--reason", default=None)
    @click.option("--limit", default=50, type=click.IntRange(1, 1000))
    def quarantine_list(status: str, reason: str | None, limit: int) -> None:
        make_app()
        with transaction(db) as session:
            rows = held(session, status=None if status == "all" else status, reason=reason,
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
        config = settings()
        outcome = Consumer(services.hub_party(config)).release(entry_id, by=by, note=note)
        click.echo(f"released {entry_id}: {outcome.value}")

    @quarantine.command("discard")
    @click.argument("entry_id", type=click.IntRange(1))
    @click.option("--by", required=True, help="Who decides (recorded).")
    @click.option("--note", default="")
    @on_domain_error
    def quarantine_discard(entry_id: int, by: str, note: str) -> None:
        config = settings()
        Consumer(services.hub_party(config)).discard(entry_id, by=by, note=note)
        click.echo(f"discarded {entry_id}")

    return group
