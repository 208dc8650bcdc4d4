"""Seeding for the directives' browser test (tests/browser/test_hub_directives.py), run as a
separate process next to a live hub or node (their databases are SQLite files):

- `python -m tests.hub.web.directives_live receipts --folder DIR --directive N`: the receipts
  of every tenant the hub's directive N was sent to, through the hub's receipt handler;
- `python -m tests.hub.web.directives_live node --instance DIR --directive N --title T`: the
  published directive N on a demo node (tenant dadukou), through the node's handler (what the
  node's consumer does when the hub's message arrives).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import sqlalchemy as sa

from federation.envelope import Envelope
from federation.keys import HUB, format_time, utcnow
from federation.messages.directives import RECEIPT

#: (targeted, read, completed) per tenant slug; tenants not listed have not reported.
RECEIPTS = {"dadukou": (40, 30, 12), "jiulongpo": (25, 25, 20), "dongcheng": (30, 6, 0)}


def receipts(folder: Path, directive_id: int) -> None:
    from hub.app import create_app
    from hub.db import db
    from hub.directives import services
    from hub.directives.models import DirectiveTarget
    from hub.settings import HubSettings
    from shared.db.session import transaction

    settings = HubSettings(database_url=f"sqlite:///{folder / 'hub.db'}",
                           secret_key="browser-test-secret-0123456789", debug=True,
                           signing_key_file=str(folder / "hub-signing.key"))
    app = create_app(settings)
    with app.app_context():
        targets = db.session.scalars(sa.select(DirectiveTarget).where(
            DirectiveTarget.directive_id == directive_id)).all()
        sent = [(t.node_id, t.tenant) for t in targets]
        db.session.rollback()
        as_of = utcnow() - dt.timedelta(minutes=5)
        for node_id, slug in sent:
            if slug not in RECEIPTS:
                continue
            targeted, read, completed = RECEIPTS[slug]
            with transaction(db):
                services.apply_receipt(Envelope.create(
                    RECEIPT, source=node_id, destination=HUB, tenant=slug,
                    data={"directive_id": directive_id, "targeted": targeted, "read": read,
                          "completed": completed, "as_of": format_time(as_of)}))


def node(instance: Path, directive_id: int, title: str, body: str) -> None:
    from node.demo import ENV_FILE, read_env_file

    os.environ.update(read_env_file(instance / ENV_FILE))
    from node.app import create_app
    from node.db import db
    from node.directives import services
    from shared.db.session import transaction

    app = create_app()
    now = utcnow()
    with app.app_context(), transaction(db):
        services.apply_published({
            "directive_id": directive_id, "kind": "study", "title": title, "body": body,
            "links": [{"title": "全会公报", "url": "https://www.example.org/gongbao.html"}],
            "priority": "urgent", "pinned": True,
            "deadline": format_time(now + dt.timedelta(days=20)),
            "published_at": format_time(now), "audience": "all", "tenants": ["dadukou"]})


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    hub = commands.add_parser("receipts")
    hub.add_argument("--folder", type=Path, required=True)
    hub.add_argument("--directive", type=int, required=True)
    on_node = commands.add_parser("node")
    on_node.add_argument("--instance", type=Path, required=True)
    on_node.add_argument("--directive", type=int, required=True)
    on_node.add_argument("--title", required=True)
    on_node.add_argument("--body", default="")
    args = parser.parse_args()
    if args.command == "receipts":
        receipts(args.folder, args.directive)
    else:
        node(args.instance, args.directive, args.title, args.body)


if __name__ == "__main__":
    main()
