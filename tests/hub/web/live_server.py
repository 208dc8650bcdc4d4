"""A hub with the seeded network, served for the browser tests:
`python -m tests.hub.web.live_server --port N --folder DIR` (from the checkout)."""

from __future__ import annotations

import argparse
from pathlib import Path

from werkzeug.serving import make_server

from federation.keys import SigningKey
from hub import migrate
from hub.app import create_app
from hub.db import db
from hub.keys import services as keys
from hub.portal.web import compile_catalogs
from hub.settings import HubSettings
from shared.db.session import transaction
from tests.hub.web.seed import seed, seed_console


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--console", action="store_true",
                        help="Also an administrator and a quarantined message (console tests).")
    args = parser.parse_args()
    compile_catalogs()
    key_file = args.folder / "hub-signing.key"
    key_file.write_text(SigningKey.generate().to_text() + "\n", encoding="ascii")
    settings = HubSettings(database_url=f"sqlite:///{args.folder / 'hub.db'}",
                           secret_key="browser-test-secret-0123456789", debug=True,
                           signing_key_file=str(key_file))
    app = create_app(settings)
    assert db.engine is not None
    migrate.upgrade(db.engine)
    with app.app_context():
        with transaction(db):
            hub_key = keys.ready_signing_key(settings)
        seed(hub_key)
        if args.console:
            seed_console(settings, hub_key)
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
