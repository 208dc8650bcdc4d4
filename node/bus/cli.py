"""`partynet node bus ...`: the node's signing key, its bus workers and the quarantine."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import click

from federation.delivery.cli import add_bus_commands
from node.bus import enrollment, services
from node.db import db
from node.directives.cli import receipts_job
from node.floating.cli import expiry_job as floating_expiry_job
from node.reports.cli import reports_job
from node.stats.cli import publish_all
from node.stats.services import next_snapshot_at
from node.transfers.cli import expiry_job as transfer_expiry_job
from shared.db.session import transaction

KEY_REFRESH_SECONDS = 3600


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

    def _relay_jobs(config: Any) -> list[Callable[[threading.Event], None]]:
        """What the relay process does beside relaying: heartbeats, statistics snapshots,
        directive receipts, last month's member reports, expired floating certificates and
        transfer letters."""
        jobs = [functools.partial(_heartbeats, config), receipts_job, reports_job,
                floating_expiry_job, transfer_expiry_job]
        if config.hub_url:
            jobs.append(functools.partial(_key_refreshes, config))
        if config.stats_interval:
            jobs.append(functools.partial(_snapshots, config))
        return jobs

    def _heartbeats(config: Any, stop: threading.Event) -> None:
        """A heartbeat to the hub now and every NODE_HEARTBEAT_INTERVAL seconds."""
        while not stop.is_set():
            try:
                with transaction(db):
                    services.send_heartbeat()
            except Exception:  # a database hiccup must not stop the relay; try next time
                logging.getLogger("partynet").exception("heartbeat not queued")
            stop.wait(config.heartbeat_interval)

    def _key_refreshes(config: Any, stop: threading.Event) -> None:
        """The hub's key directory now and every hour, so the keys stay confirmed (trust
        horizon) and revocations arrive even if a bus message was missed."""
        while not stop.is_set():
            try:
                directory = enrollment.fetch_directory(hub_url=config.hub_url)
                with transaction(db):
                    enrollment.refresh_keys(directory)
            except Exception:  # the hub unreachable: keep relaying, try again next hour
                logging.getLogger("partynet").exception("key directory not refreshed")
            stop.wait(KEY_REFRESH_SECONDS)

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

    add_bus_commands(group, load_app=make_app, party=lambda: services.node_party(settings()),
                     bus_url=lambda: services.bus_url(settings()), db=db, peers="the hub",
                     on_domain_error=on_domain_error,
                     relay_jobs=lambda: _relay_jobs(settings()))
    return group
