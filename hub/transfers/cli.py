"""`partynet hub transfers directory|summary`: the tenant directory on demand, the national
counts at the command line (the same services as the console and the API)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import click

from hub.db import db
from hub.transfers import services
from shared.db.session import transaction

#: How often the relay's job looks for a registry change to announce.
DIRECTORY_CHECK_SECONDS = 5.0


def directory_job(stop: threading.Event, every: float = DIRECTORY_CHECK_SECONDS) -> None:
    """Beside the hub's relay: send the tenant directory whenever the registry's version moved
    (an enrollment, a re-enrollment, a revocation), within seconds, from any process that
    changed it. The version check and the sending are one transaction."""
    while not stop.is_set():
        try:
            with transaction(db):
                services.publish_directory()
        except Exception:  # a database hiccup must not stop the relay; try next time
            logging.getLogger("partynet").exception("tenant directory not queued")
        stop.wait(every)


def transfers_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
                    ) -> click.Group:
    @click.group("transfers")
    def group() -> None:
        """Transfers routed between nodes (metadata only) and the tenant directory."""

    @group.command("directory")
    @click.option("--force", is_flag=True,
                  help="Send it even if the nodes already have this version.")
    @on_domain_error
    def directory(force: bool) -> None:
        """Send the tenant directory to every active node (the bus relay delivers it)."""
        make_app()
        with transaction(db):
            count = services.publish_directory(force=force)
        click.echo(f"queued for {count} node(s)" if count else "the nodes are up to date")

    @group.command("summary")
    @on_domain_error
    def summary() -> None:
        """Transfers in flight, overdue and expired, nationwide and by region."""
        make_app()
        result = services.summary()
        click.echo(f"in flight {result.in_flight}  overdue {result.overdue}  "
                   f"expired {result.expired}  closed {result.closed}")
        for row in result.regions:
            click.echo(f"{row.region or '-':8} out {row.outgoing:6}  in {row.incoming:6}  "
                       f"overdue {row.overdue:6}  expired {row.expired:6}")

    return group
