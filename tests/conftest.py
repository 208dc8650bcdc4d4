"""Suite-wide fixtures and checks: the node test world is in tests/node/conftest.py."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs `--dist loadgroup`: the tests that share one costly server (the
    browser's node, the schemathesis run, a private RabbitMQ node) carry `xdist_group`, and
    xdist keeps a group on one worker by suffixing node ids with "@<group>". pytest 9.2
    silently broke that (pytest-xdist#1386): every group was split over both workers, each
    starting its own server. Refuse to run rather than be slow, or clash, without a word."""
    if not getattr(config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"--dist loadgroup does not group {len(lost)} tests marked xdist_group "
            f"(e.g. {lost[0]}): this pytest-xdist cannot with this pytest; see pyproject.toml")
