"""Suite-wide fixtures and checks: the node test world is in tests/node/conftest.py."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after xdist has suffixed the grouped node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order `make test` (`-n 2 --dist loadgroup`) needs, and a check that it works.

    The long tests (`slow`: the multi-process end-to-end runs, the broker faults, the demo)
    go first, the rest keep their order: xdist hands out single tests in collection order,
    and these came last (tests/test_*.py), so the suite ended with one worker running them
    while the other was idle.

    The tests that share one costly server (the browser's node, the schemathesis run, a
    private RabbitMQ node) carry `xdist_group`, and xdist keeps a group on one worker by
    suffixing node ids with "@<group>". pytest 9.2 silently broke that (pytest-xdist#1386):
    every group was split over both workers, each starting its own server. Refuse to run
    rather than be slow, or clash, without a word."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
    if not getattr(config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"--dist loadgroup does not group {len(lost)} tests marked xdist_group "
            f"(e.g. {lost[0]}): this pytest-xdist cannot with this pytest; see pyproject.toml")
