"""`partynet node bus ...`: the node's signing key, its bus workers and the quarantine."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import click

from federation.delivery import Consumer, Relay
from federation.delivery.quarantine import held
from federation.transport import open_bus
from node.bus import enrollment, services
from node.db import db
from node.stats.cli import publish_all
from node.stats.services import next_snapshot_at
from shared.db.session import transaction
from shared.logs import configure_json_logging


def bus_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
              ) -> click.Group:
    @click.group("bus")
    def group() -> None:
        """The federation bus: signing key, relay and consumer workers, quarantine."""

    def settings() -> Any:
        return make_app().extensions["node"]

    @group.command("keygen")
    @on_domain_error
    def keygen() -> None:
        """Create this node's Ed25519 signing key (NODE_SIGNING_KEY_FILE)."""
        key = services.create_signing_key(settings())
        click.echo(f"created {key.key_id}")

    def _run(kind: str) -> None:
        configure_json_logging()
        config = settings()
        party = services.node_party(config)
        bus = open_bus(services.bus_url(config))
        bus.declare([party.id])
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        workers = []
        if kind in ("relay", "worker"):
            workers.append(threading.Thread(target=Relay(party, bus).run, args=(stop,),
                                            name="relay"))
            workers.append(threading.Thread(target=_heartbeats, args=(config, stop),
                                            name="heartbeat"))
            if config.stats_interval:
                workers.append(threading.Thread(target=_snapshots, args=(config, stop),
                                                name="stats"))
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

    def _heartbeats(config: Any, stop: threading.Event) -> None:
        """A heartbeat to the hub now and every NODE_HEARTBEAT_INTERVAL seconds."""
        while not stop.is_set():
            try:
                with transaction(db):
                    services.send_heartbeat()
            except Exception:  # a database hiccup must not stop the relay; try next time
                logging.getLogger("partynet").exception("heartbeat not queued")
            stop.wait(config.heartbeat_interval)

    def _snapshots(config: Any, stop: threading.Event) -> None:
        """Statistics snapshots of every tenant at fixed local times: 01:00, then every
        NODE_STATS_INTERVAL seconds (daily by default). Wall-clock times, not "at start": a
        restart neither publishes again nor delays the next snapshot."""
        while not stop.is_set():
            due = next_snapshot_at(dt.datetime.now().astimezone(), config.stats_interval)
            if stop.wait(max((due - dt.datetime.now().astimezone()).total_seconds(), 0)):
                return
            try:
                publish_all(None, due.date())
            except Exception:  # like heartbeats: never stop the relay over it; try next time
                logging.getLogger("partynet").exception("statistics snapshot not queued")

    @group.command("relay")
    @on_domain_error
    def relay() -> None:
        """Publish the outbox, retransmit what is unacknowledged, send acks (until stopped)."""
        _run("relay")

    @group.command("consume")
    @on_domain_error
    def consume() -> None:
        """Receive, verify and apply messages from the hub (until stopped)."""
        _run("consume")

    @group.command("worker")
    @on_domain_error
    def worker() -> None:
        """Relay and consumer in one process."""
        _run("worker")

    @group.command("enroll")
    @click.option("--hub", "hub_url", required=True, envvar="NODE_HUB_URL",
                  help="The hub's base URL, e.g. https://hub.example.org.")
    @click.option("--token", required=True, envvar="NODE_ENROLLMENT_TOKEN",
                  help="The one-time token from the hub administrator.")
    @on_domain_error
    def enroll(hub_url: str, token: str) -> None:
        """Enroll this node with the hub: register its key and tenants, pin the hub's keys."""
        config = settings()
        if enrollment.is_insecure(hub_url):
            click.echo(f"warning: {hub_url} is plain HTTP; the token travels in clear. Use "
                       "https:// outside one machine.", err=True)
        result = enrollment.request_enrollment(config, hub_url=hub_url, token=token)
        with transaction(db):
            enrollment.apply_enrollment(result)
        click.echo(f"enrolled {result.node_id}; pinned hub key(s) "
                   f"{', '.join(k.key_id for k in result.hub_keys)}")
        for tenant in result.tenants:
            click.echo(f"  tenant {tenant.slug}: prefix {tenant.code_prefix}, "
                       f"region {tenant.region}")
        click.echo(f"key directory version {result.directory.version} applied "
                   f"({len(result.directory.keys)} keys)")
        for key_id in result.revoked_keys:
            click.echo(f"  earlier key {key_id} revoked")

    @group.command("refresh-keys")
    @click.option("--hub", "hub_url", required=True, envvar="NODE_HUB_URL",
                  help="The hub's base URL, e.g. https://hub.example.org.")
    @on_domain_error
    def refresh_keys(hub_url: str) -> None:
        """Fetch the hub's key directory, check it with the pinned hub keys, apply it."""
        make_app()
        directory = enrollment.fetch_directory(hub_url=hub_url)
        with transaction(db):
            applied = enrollment.refresh_keys(directory)
        if not applied:
            click.echo(f"key directory version {directory.version} is not newer than the one "
                       f"applied already: nothing changed")
            return
        click.echo(f"key directory version {directory.version} applied "
                   f"({len(directory.keys)} keys, {len(directory.revoked_owners)} revoked "
                   f"parties)")

    @group.command("heartbeat")
    @on_domain_error
    def heartbeat() -> None:
        """Queue one heartbeat (version, backlog, lag, tenants) to the hub; the relay sends it."""
        make_app()
        with transaction(db):
            message_id = services.send_heartbeat()
        click.echo(f"heartbeat {message_id} queued")

    @group.command("status")
    def status() -> None:
        """Backlog, lag, quarantine and the streams with each peer."""
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
        outcome = Consumer(services.node_party(config)).release(entry_id, by=by, note=note)
        click.echo(f"released {entry_id}: {outcome.value}")

    @quarantine.command("discard")
    @click.argument("entry_id", type=click.IntRange(1))
    @click.option("--by", required=True, help="Who decides (recorded).")
    @click.option("--note", default="")
    @on_domain_error
    def quarantine_discard(entry_id: int, by: str, note: str) -> None:
        config = settings()
        Consumer(services.node_party(config)).discard(entry_id, by=by, note=note)
        click.echo(f"discarded {entry_id}")

    return group
