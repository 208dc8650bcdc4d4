"""The bus commands of federation/delivery/cli.py (`bus worker`, `relay`, `consume`) as an app
runs them, for test_broker_faults.py: one party on its own SQLite database, a fresh key.

    python cli_worker.py DB_URL PARTY BUS_URL worker|relay|consume
"""

from __future__ import annotations

import sys

import click

from federation.delivery import Party
from federation.delivery.cli import add_bus_commands
from federation.delivery.models import FederationModel
from federation.keys import SigningKey
from shared.db.session import Database


def main(db_url: str, party_id: str, bus_url: str, command: str) -> None:
    db = Database()
    db.configure(db_url)
    assert db.engine is not None
    FederationModel.metadata.create_all(db.engine)
    party = Party(id=party_id, db=db, signing_key=SigningKey.generate(), handlers={})
    group = click.Group("bus")
    add_bus_commands(group, load_app=lambda: None, party=lambda: party,
                     bus_url=lambda: bus_url, db=db, peers="the test",
                     on_domain_error=lambda command: command)
    group.main([command], prog_name="bus")


if __name__ == "__main__":
    main(*sys.argv[1:])
