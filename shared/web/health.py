"""Readiness, as node and hub answer it: the database answers and its schema is at the code's
migration head; federation figures ride along as information, never as a condition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.db.migrations import MigrationTree
from shared.db.session import Database
from shared.version import VERSION

__all__ = ["VERSION", "readiness"]


def readiness(db: Database, tree: MigrationTree,
              federation: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The /readyz body and status (200 or 503); it reports any failure and never raises."""
    checks: dict[str, str] = {}
    extra = None
    try:
        current = tree.current_revision(db.session.connection())
        head = tree.head_revision()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
        if current == head:
            extra = federation()
    except Exception as exc:  # readiness reports any failure, it never raises
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
    finally:
        db.session.rollback()
    ok = all(v == "ok" for v in checks.values()) and "migrations" in checks
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if extra is not None:
        body["federation"] = extra
    return body, 200 if ok else 503
