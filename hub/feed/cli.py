"""`partynet hub feed takedown CONTENT_KEY --by NAME --reason TEXT`: the hub administrator's
take-down of a feed item (hidden at once; its node is asked to withdraw it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hub.db import db
from hub.feed import services
from shared.db.session import transaction


def feed_group(*, make_app: Callable[[], Any], on_domain_error: Callable[[Any], Any]
               ) -> click.Group:
    @click.group("feed")
    def group() -> None:
        """The national feed of public content."""

    @group.command("takedown")
    @click.argument("content_key")
    @click.option("--node", "node_id", default=None,
                  help="The item's node (needed only when two nodes use the same key).")
    @click.option("--by", required=True, help="Who takes it down (recorded, sent to the node).")
    @click.option("--reason", required=True, help="Why (recorded, sent to the node).")
    @on_domain_error
    def takedown(content_key: str, node_id: str | None, by: str, reason: str) -> None:
        """Hide CONTENT_KEY (<tenant>:<article id>) and ask its node to withdraw it."""
        make_app()
        with transaction(db):
            item = services.find_item(content_key, node_id)
            message_id = services.take_down(item, by=by, reason=reason)
            where = f"{item.node_id}/{item.content_key}"
        if message_id is None:
            click.echo(f"{where} was already taken down")
        else:
            click.echo(f"{where} taken down; withdrawal requested from {where.split('/')[0]} "
                       f"(message {message_id})")

    return group
