"""Brute-force throttling kept in the database, for node and hub sign-ins and OAuth clients.

Failures are counted per key (an account, an address, a client id) in a table of the app's own
(`key`, `failures`, `window_started_at`), not in process memory, so every worker sees the same
counts. Flask-free: services call it inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from shared.db import Database, utcnow
from shared.errors import TooManyAttempts


class Throttle:
    """Counts failures per key in `model` (a table with key, failures, window_started_at)."""

    def __init__(self, db: Database, model: Any) -> None:
        self.db = db
        self.model = model

    def check(self, keys: Sequence[str], *, max_failures: int, window: int) -> None:
        """Refuse (`TooManyAttempts` with Retry-After) when any key is over the limit."""
        if not keys:
            return
        now = utcnow()
        rows = self.db.session.scalars(sa.select(self.model)
                                       .where(self.model.key.in_(keys))).all()
        for row in rows:
            age = (now - row.window_started_at).total_seconds()
            if age < window and row.failures >= max_failures:
                raise TooManyAttempts("Too many failed attempts; try again later.",
                                      headers={"Retry-After": str(int(window - age) + 1)})

    def note(self, keys: Sequence[str], *, window: int) -> None:
        """Count one failure for each key (the caller commits: a failure is not an error)."""
        now = utcnow()
        for key in keys:
            row = self.db.session.get(self.model, key)
            if row is None:
                self.db.session.add(self.model(key=key, failures=1, window_started_at=now))
            elif (now - row.window_started_at).total_seconds() >= window:
                row.failures, row.window_started_at = 1, now
            else:
                row.failures += 1
        self.db.session.flush()

    def clear(self, keys: Sequence[str]) -> None:
        if keys:
            self.db.session.execute(sa.delete(self.model).where(self.model.key.in_(keys)))
