"""The `partynet` command: `partynet node ...`, `partynet hub ...` and `partynet demo`.

App command groups are imported lazily by name, so `shared` depends on neither app and each
command only loads what it runs. `partynet demo` (shared.demo) runs both apps' commands as
child processes: the demo network on one machine.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

APPS = {"node": "node.cli:cli", "hub": "hub.cli:cli", "demo": "shared.demo:demo_command"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(APPS)

    def get_command(self, ctx: click.Context, name: str) -> Any:
        target = APPS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise


@click.group(cls=LazyGroup)
def main() -> None:
    """partynet: nodes, hub and the signed message bus of the party-building network."""
