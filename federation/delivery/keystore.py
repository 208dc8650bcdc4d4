"""Peers' public keys kept in the database, loaded into a KeyRing for verifying.

The hub's signed directory (or enrollment) writes `fed_keys`; every worker process reads it. An
unknown key id makes the consumer reload once, behind a timer, so a flood of messages signed
with made-up key ids cannot turn into a flood of queries.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from federation.delivery.models import AppliedDirectory, KnownKey, RevokedOwner
from federation.keys import Directory, KeyRing, PublicKey, utcnow
from shared.db.session import Database


def remember_key(session: Session, key: PublicKey) -> None:
    """Store (or update) a peer's key; a revocation, once stored, is never undone."""
    row = session.get(KnownKey, (key.owner, key.key_id))
    if row is None:
        session.add(KnownKey(owner=key.owner, key_id=key.key_id, public=key.public,
                             valid_from=key.valid_from, valid_until=key.valid_until,
                             revoked_at=key.revoked_at))
        return
    row.public, row.valid_from, row.valid_until = key.public, key.valid_from, key.valid_until
    row.added_at = utcnow()  # confirmed again: the trust horizon starts over
    if key.revoked_at and row.revoked_at is None:
        row.revoked_at = key.revoked_at


def revoke(session: Session, owner: str, key_id: str | None, at: dt.datetime) -> None:
    """Revoke one key of `owner`, or the whole owner when `key_id` is None."""
    if key_id is None:
        if session.get(RevokedOwner, owner) is None:
            session.add(RevokedOwner(owner=owner, revoked_at=at))
        return
    row = session.get(KnownKey, (owner, key_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = at


def apply_directory(session: Session, directory: Directory) -> bool:
    """Store a verified directory's keys and revocations, unless one at least as new was
    applied already (a replayed old directory must not undo a rotation)."""
    state = session.get(AppliedDirectory, 1, with_for_update=True)
    if state is not None and directory.version <= state.version:
        return False
    if state is None:
        state = AppliedDirectory(id=1, version=directory.version,
                                 issued_at=directory.issued_at)
        session.add(state)
    state.version, state.issued_at, state.applied_at = (directory.version,
                                                        directory.issued_at, utcnow())
    for key in directory.keys:
        remember_key(session, key)
    for owner, at in directory.revoked_owners.items():
        revoke(session, owner, None, at)
    return True


def load_ring(session: Session, trust_horizon: dt.timedelta) -> KeyRing:
    ring = KeyRing(trust_horizon=trust_horizon)
    for row in session.scalars(sa.select(KnownKey)):
        ring.add(PublicKey(owner=row.owner, key_id=row.key_id, public=row.public,
                           valid_from=row.valid_from, valid_until=row.valid_until,
                           revoked_at=row.revoked_at), now=row.added_at)
    for owner in session.scalars(sa.select(RevokedOwner)):
        ring.revoke_owner(owner.owner, owner.revoked_at)
    return ring


class KeyStore:
    """The key ring of one worker process, reloaded from the database when it may be stale."""

    def __init__(self, db: Database, *, refresh_every: dt.timedelta,
                 trust_horizon: dt.timedelta) -> None:
        self._db = db
        self._horizon = trust_horizon
        self._every = refresh_every.total_seconds()
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._loaded_at = float("-inf")

    def ring(self) -> KeyRing:
        if self._ring is None:
            self.reload()
        assert self._ring is not None
        return self._ring

    def reload(self, session: Session | None = None) -> KeyRing:
        """Read the keys again: with the caller's `session` when it is inside a unit of work
        (on SQLite, a second connection would wait for the write lock that unit holds),
        otherwise with a session of its own, so that the caller's unit of work goes on."""
        with self._lock:
            if session is not None:
                self._ring = load_ring(session, self._horizon)
            else:
                with Session(bind=self._db.session.get_bind()) as own:
                    self._ring = load_ring(own, self._horizon)
            self._loaded_at = time.monotonic()
            return self._ring

    def maybe_reload(self) -> bool:
        """Reload unless that was done within the refresh interval (the circuit breaker)."""
        if time.monotonic() - self._loaded_at < self._every:
            return False
        self.reload()
        return True

