"""The portal's fixtures: the seeded national network (tests/hub/conftest.py gives the app,
the per-test rolled-back transaction and the hub's key)."""

from __future__ import annotations

import pytest

from hub.portal.web import compile_catalogs

from .seed import seed


@pytest.fixture(scope="session", autouse=True)
def _catalogs() -> None:
    compile_catalogs()


@pytest.fixture()
def seeded(client, hub_key) -> dict[str, int]:
    """Item ids by title, in a network of two nodes, three tenants and two days of figures."""
    return seed(hub_key)
