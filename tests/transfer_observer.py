"""An observer of one transfer between two nodes: a background thread that reads both nodes'
databases over and over while a multi-process scenario runs, and records every instant it can
see at which the transfer's invariant does not hold (docs/architecture.md, "The invariant and
the linearization point").

The invariant: the person is never on the rolls in two places, and is on the rolls at the
origin unless the origin's side is `received` or `closed` (the origin's acceptance of the
claim is the linearization point; the destination activates the member only on `released`,
which the origin sends in that same commit).

Usage (read-only SQL, SQLite files and PostgreSQL databases alike):

    with TransferObserver(origin_url, destination_url, uid) as observer:
        ... the scenario; observer.begin("label") / observer.end("label") around moments
        whose observations should be counted apart (workers killed, the broker stopped) ...
    assert not observer.violations, observer.report()

Made for a transfer whose person is not on the destination's rolls already (then the letter
is rejected with `already_active`, and the duplicate registration predates the transfer).
"""

from __future__ import annotations

import collections
import datetime as dt
import sys
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import sqlalchemy as sa

#: Member statuses that put a person on the rolls of a tenant (as `require_on_rolls` says).
ON_ROLLS = ("active", "floating")
#: Out-side states after the origin accepted the claim: the member is no longer its.
LET_GO = ("received", "closed")
#: The phases an observation can prove it saw (see TransferObserver).
AT_ORIGIN, IN_FLIGHT, ARRIVED = "at the origin", "in flight", "arrived"

_ORIGIN = sa.text(
    "SELECT t.state, m.status, t.identity_hash, t.member_name FROM transfers t "
    "JOIN members m ON m.id = t.member_id WHERE t.uid = :uid AND t.side = 'out'")
_DESTINATION = sa.text(
    "SELECT (SELECT count(*) FROM transfers WHERE uid = :uid AND side = 'in'), "
    "(SELECT min(state) FROM transfers WHERE uid = :uid AND side = 'in'), "
    "(SELECT count(*) FROM members WHERE national_id_hash = :digest OR name = :name), "
    "(SELECT count(*) FROM members WHERE (national_id_hash = :digest OR name = :name) "
    "AND status IN ('active', 'floating'))")


@dataclass(frozen=True)
class Origin:
    """The origin's side and its member, read in one statement (one snapshot)."""

    state: str
    status: str

    @property
    def on_rolls(self) -> bool:
        return self.status in ON_ROLLS

    @property
    def let_go(self) -> bool:
        return self.state in LET_GO


@dataclass(frozen=True)
class Destination:
    """The destination's side (absent until the letter arrives) and the person's records
    there (by identity hash or name), read in one statement."""

    sides: int
    state: str | None
    records: int
    on_rolls: int


def _read_only_engine(url: str) -> sa.Engine:
    """An engine of one pooled connection that cannot write: `query_only` on SQLite, read-only
    transactions on PostgreSQL."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 10})

        @sa.event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_size=1, max_overflow=0,
                            connect_args={"options": "-c default_transaction_read_only=on"})


class TransferObserver:
    """Polls the destination, then the origin, then the destination again, every `interval`
    seconds from `__enter__` to `__exit__`, and records what it saw.

    Two databases cannot be read at one instant, so the order of the reads is what makes a
    finding real:

    - "Never on the rolls in two places" is checked with the destination read FIRST, then
      the origin. The destination activates the member only on `released`, sent after the
      origin let go, and nothing in a transfer takes the member back off the destination's
      rolls: a destination that is active at t1 is still active at t2 > t1, so if the origin
      is active at t2 both were active at t2 — a real violation. (The other order would
      report the legitimate handover between the two reads as a violation.)
    - "On the rolls at the origin unless its side is received or closed" is checked within
      ONE statement reading the member and the out side together (one snapshot: a statement
      sees one committed state on PostgreSQL and on SQLite); the destination's side and
      member are likewise read together ("on the rolls there" iff its side is `received`).
    - The destination is also checked for duplicates: at most one side for the uid and one
      member record of the person (by identity hash or name).

    The second destination read (after the origin's) dates the phases it reports, at the
    instant of the origin's read: AT_ORIGIN (origin on the rolls, destination not even later),
    IN_FLIGHT (the origin let go, the destination not active even later), ARRIVED (the
    destination active already before the origin's read, which had let go). Read errors are
    kept apart (`errors`): they prove nothing either way.
    """

    def __init__(self, origin_url: str, destination_url: str, uid: str, *,
                 interval: float = 0.03) -> None:
        self.uid, self.interval = uid, interval
        self._origin = _read_only_engine(origin_url)
        self._destination = _read_only_engine(destination_url)
        self._lock = threading.Lock()
        self._labels: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"observer {uid}", daemon=True)
        self.digest = self.name = ""
        self.observations = 0
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.phases: collections.Counter[str] = collections.Counter()
        self.during: collections.Counter[str] = collections.Counter()  # per label
        self.states: collections.Counter[tuple[str, str, str | None]] = collections.Counter()

    # --- the scenario's side --------------------------------------------------------------

    def __enter__(self) -> TransferObserver:
        with self._origin.connect() as conn:
            row = conn.execute(_ORIGIN, {"uid": self.uid}).one()
        self.digest, self.name = row.identity_hash, row.member_name
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._origin.dispose()
        self._destination.dispose()
        if error is not None and self.violations:  # they may explain the failure
            print(self.report(), file=sys.stderr)

    def begin(self, label: str) -> None:
        """Count the observations made entirely while `label` holds (until `end`)."""
        with self._lock:
            self._labels.add(label)

    def end(self, label: str) -> None:
        with self._lock:
            self._labels.discard(label)

    def seen(self, phase: str) -> int:
        with self._lock:
            return self.phases[phase]

    def report(self) -> str:
        with self._lock:
            return (f"transfer {self.uid}: {self.observations} observations, phases "
                    f"{dict(self.phases)}, during {dict(self.during)}, "
                    f"{len(self.errors)} read errors {self.errors[:3]}, "
                    f"(origin state, origin status, destination state) seen "
                    f"{dict(self.states)}; {len(self.violations)} violations:\n"
                    + "\n".join(self.violations[:20]))

    # --- the thread -------------------------------------------------------------------------

    def _read_origin(self) -> Origin | None:
        with self._origin.connect() as conn:
            rows = conn.execute(_ORIGIN, {"uid": self.uid}).all()
        return Origin(rows[0].state, rows[0].status) if len(rows) == 1 else None

    def _read_destination(self) -> Destination:
        with self._destination.connect() as conn:
            sides, state, records, on_rolls = conn.execute(_DESTINATION, {
                "uid": self.uid, "digest": self.digest, "name": self.name}).one()
        return Destination(int(sides), state, int(records), int(on_rolls))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                labels = set(self._labels)
            at = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            try:
                before = self._read_destination()
                origin = self._read_origin()
                after = self._read_destination()
            except sa.exc.SQLAlchemyError as exc:
                with self._lock:
                    self.errors.append(f"{at}: {type(exc).__name__}: {exc}"[:300])
            else:
                found = self._check(before, origin, after)
                with self._lock:
                    self.observations += 1
                    self.violations.extend(f"{at}: {what}" for what in found)
                    if origin is not None:
                        self.states[(origin.state, origin.status, after.state)] += 1
                        self.phases.update(self._phases(before, origin, after))
                    self.during.update(labels & self._labels)  # held throughout
            self._stop.wait(self.interval)

    def _check(self, before: Destination, origin: Origin | None,
               after: Destination) -> list[str]:
        read = (f"(read: destination {before}, then origin {origin}, then destination "
                f"{after})")
        if origin is None:
            return [f"the origin's side of {self.uid} is missing or doubled {read}"]
        found = []
        if origin.on_rolls == origin.let_go:
            found.append(f"the origin's member is {origin.status} while its side is "
                         f"{origin.state} {read}")
        if before.on_rolls and origin.on_rolls:
            found.append(f"on the rolls in two places: at the destination, then at the "
                         f"origin {read}")
        if before.state == "received" and not origin.let_go:
            found.append(f"the destination received the member before the origin let go "
                         f"{read}")
        for destination in (before, after):
            if destination.sides > 1 or destination.records > 1:
                found.append(f"duplicated at the destination {read}")
            if bool(destination.on_rolls) != (destination.state == "received"):
                found.append(f"the destination's member and side disagree {read}")
        return found

    @staticmethod
    def _phases(before: Destination, origin: Origin, after: Destination) -> list[str]:
        if origin.on_rolls and not after.on_rolls:
            return [AT_ORIGIN]
        if origin.let_go and not after.on_rolls:
            return [IN_FLIGHT]
        if origin.let_go and before.on_rolls:
            return [ARRIVED]
        return []

