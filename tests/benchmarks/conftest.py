"""Benchmarks run only when asked for (`make bench`, i.e. `-m bench`); `make test` skips them.

pytest's `testpaths = ["tests"]` collects this folder too, so `bench` items are deselected
unless the `-m` expression names the marker. Fixtures of one benchmark live in its own module.
"""

from __future__ import annotations

import re

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if re.search(r"\bbench\b", config.getoption("markexpr") or ""):
        return  # -m decides
    skipped = [item for item in items if item.get_closest_marker("bench")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not item.get_closest_marker("bench")]
