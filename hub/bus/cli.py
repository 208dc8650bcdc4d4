"""`partynet hub bus ...`: the hub's signing key, its bus workers and the quarantine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa

from federation.delivery.cli import add_bus_commands
from hub.bus import services
from hub.db import db
from hub.keys import services as keys
from hub.transfers.cli import directory_job
from shared.db.session import transaction


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

    add_bus_commands(group, load_app=make_app, party=lambda: services.hub_party(settings()),
                     bus_url=lambda: services.bus_url(settings()), db=db, peers="the nodes",
                     on_domain_error=on_domain_error, relay_jobs=lambda: [directory_job])

    return group
