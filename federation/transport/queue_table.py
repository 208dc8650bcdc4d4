"""The SQLite database that is the embedded broker: topology, messages, leases and acks.

Every piece of broker state lives in this file, none in a process, so any process may be
killed with SIGKILL at any moment: a claimed message's lease simply expires and the row is
delivered again (FEDERATION.md: kombu's sqlalchemy and filesystem transports lost messages in
exactly that case).

Durability: journal_mode=WAL with synchronous=NORMAL by default. A commit has written its WAL
frames to the file (the OS page cache) before it returns, so a confirmed publish or an ack
survives kill -9 of any process. It may not survive power loss or a kernel crash; that is out
of scope for the embedded mode (one machine; the end-to-end acknowledgements of the delivery
layer repair it). synchronous=FULL adds an fsync per commit for whoever wants it.

Concurrency: every write takes the write lock up front (BEGIN IMMEDIATE), so two consumers
never claim the same row, and busy_timeout makes writers queue for the lock instead of failing.
Row ids are AUTOINCREMENT, never reused, and give FIFO order within a queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_CHUNK = 500  # ids per IN (...) clause

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    delivery_limit INTEGER,
    dead_letter_exchange TEXT,
    dead_letter_routing_key TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bindings (
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    queue TEXT NOT NULL,
    PRIMARY KEY (exchange, routing_key, queue)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    message_id TEXT,
    headers TEXT NOT NULL,
    properties TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_messages_queue_id ON messages (queue, id);
CREATE INDEX IF NOT EXISTS ix_messages_lease_owner ON messages (lease_owner)
    WHERE lease_owner IS NOT NULL;
"""


class TopologyMismatch(Exception):
    """An exchange or queue exists with other settings (RabbitMQ's PRECONDITION_FAILED)."""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    delivery_limit: int | None
    dead_letter_exchange: str | None
    dead_letter_routing_key: str | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    queue: str
    body: bytes
    message_id: str | None
    headers: dict[str, Any]
    properties: dict[str, Any]
    attempts: int  # deliveries so far, this one included


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


class QueueTable:
    """One connection to the bus database; thread-safe (one lock, short transactions)."""

    def __init__(self, path: str, *, busy_timeout: float = 30.0,
                 synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        with self.transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{path}: bus schema {version} is newer than this code")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outermost one (one commit per batch)."""
        with self._lock:
            if self._depth == 0:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if self._depth == 0 and self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- topology ------------------------------------------------------------------------

    def declare_exchange(self, name: str, type_: str) -> None:
        with self.transaction() as conn:
            row = conn.execute("SELECT type FROM exchanges WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO exchanges (name, type) VALUES (?, ?)", (name, type_))
            elif row[0] != type_:
                raise TopologyMismatch(f"exchange {name!r} exists with type {row[0]!r}")

    def has_exchange(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM exchanges WHERE name = ?", (name,)))

    def declare_queue(self, spec: QueueSpec) -> None:
        with self.transaction() as conn:
            existing = self._queue_spec(conn, spec.name)
            if existing is None:
                conn.execute(
                    "INSERT INTO queues (name, delivery_limit, dead_letter_exchange,"
                    " dead_letter_routing_key) VALUES (?, ?, ?, ?)",
                    (spec.name, spec.delivery_limit, spec.dead_letter_exchange,
                     spec.dead_letter_routing_key),
                )
            elif existing != spec:
                raise TopologyMismatch(f"queue {spec.name!r} exists with {existing}")

    def has_queue(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM queues WHERE name = ?", (name,)))

    def delete_queue(self, name: str) -> int:
        with self.transaction() as conn:
            gone = conn.execute("DELETE FROM messages WHERE queue = ?", (name,)).rowcount
            conn.execute("DELETE FROM bindings WHERE queue = ?", (name,))
            conn.execute("DELETE FROM queues WHERE name = ?", (name,))
            return gone

    def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO bindings (exchange, routing_key, queue)"
                         " VALUES (?, ?, ?)", (exchange, routing_key, queue))

    def unbind(self, queue: str, exchange: str, routing_key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM bindings WHERE exchange = ? AND routing_key = ?"
                         " AND queue = ?", (exchange, routing_key, queue))

    def route(self, exchange: str, routing_key: str) -> list[str]:
        """Queues a direct exchange delivers to; an unknown exchange routes nowhere."""
        rows = self._read("SELECT queue FROM bindings WHERE exchange = ? AND routing_key = ?"
                          " ORDER BY queue", (exchange, routing_key))
        return [r[0] for r in rows]

    @staticmethod
    def _queue_spec(conn: sqlite3.Connection, name: str) -> QueueSpec | None:
        row = conn.execute("SELECT name, delivery_limit, dead_letter_exchange,"
                           " dead_letter_routing_key FROM queues WHERE name = ?",
                           (name,)).fetchone()
        return QueueSpec(*row) if row else None

    # -- messages ------------------------------------------------------------------------

    def insert(self, queues: Iterable[str], body: bytes, message_id: str | None,
               headers: dict[str, Any], properties: dict[str, Any]) -> None:
        row = (body, message_id, json.dumps(headers), json.dumps(properties), time.time())
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO messages (queue, body, message_id, headers, properties,"
                " published_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(queue, *row) for queue in queues],
            )

    def size(self, queue: str) -> int:
        return self._read("SELECT count(*) FROM messages WHERE queue = ?", (queue,))[0][0]

    def purge(self, queue: str) -> int:
        """Remove the ready (unleased) messages, as AMQP queue.purge does."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM messages WHERE queue = ? AND lease_until <= ?",
                                (queue, time.time())).rowcount

    def has_visible(self, queue: str) -> bool:
        """A read without the write lock: idle consumers poll this, not claim()."""
        return bool(self._read("SELECT 1 FROM messages WHERE queue = ? AND lease_until <= ?"
                               " LIMIT 1", (queue, time.time())))

    def claim(self, queue: str, owner: str, limit: int,
              lease_seconds: float) -> list[StoredMessage]:
        """Lease the next `limit` visible rows in id order; rows past the delivery limit whose
        last lease expired (their consumer died) are dead-lettered instead of delivered."""
        now = time.time()
        with self.transaction() as conn:
            rows = conn.execute(
                "UPDATE messages SET attempts = attempts + 1, lease_owner = ?, lease_until = ?"
                " WHERE id IN (SELECT id FROM messages WHERE queue = ? AND lease_until <= ?"
                " ORDER BY id LIMIT ?)"
                " RETURNING id, queue, body, message_id, headers, properties, attempts",
                (owner, now + lease_seconds, queue, now, limit),
            ).fetchall()
            if not rows:
                return []
            spec = self._queue_spec(conn, queue)
            claimed: list[StoredMessage] = []
            for row in sorted(rows):
                message = StoredMessage(row[0], row[1], bytes(row[2]), row[3],
                                        json.loads(row[4]), json.loads(row[5]), row[6])
                if spec and spec.delivery_limit is not None \
                        and message.attempts > spec.delivery_limit + 1:
                    self._dead_letter(conn, message, spec, "delivery_limit")
                else:
                    claimed.append(message)
            return claimed

    def ack(self, ids: Sequence[int]) -> None:
        """Delete, whoever holds the lease now: the work is done, a second delivery would only
        be a duplicate."""
        with self.transaction() as conn:
            for part in _chunks(ids):
                conn.execute(f"DELETE FROM messages WHERE id IN ({_marks(part)})", part)

    def reject(self, ids: Sequence[int], owner: str, *, requeue: bool) -> None:
        """requeue: visible again (or dead-lettered once past the limit); else dead-letter."""
        with self.transaction() as conn:
            for part in _chunks(ids):
                rows = conn.execute(
                    "SELECT id, queue, body, message_id, headers, properties, attempts"
                    f" FROM messages WHERE id IN ({_marks(part)}) AND lease_owner = ?",
                    (*part, owner),
                ).fetchall()
                for row in rows:
                    message = StoredMessage(row[0], row[1], bytes(row[2]), row[3],
                                            json.loads(row[4]), json.loads(row[5]), row[6])
                    spec = self._queue_spec(conn, message.queue)
                    limit = spec.delivery_limit if spec else None
                    if not requeue:
                        self._dead_letter(conn, message, spec, "rejected")
                    elif limit is not None and message.attempts > limit:
                        self._dead_letter(conn, message, spec, "delivery_limit")
                    else:
                        conn.execute("UPDATE messages SET lease_until = 0, lease_owner = NULL"
                                     " WHERE id = ?", (message.id,))

    def release(self, ids: Sequence[int], owner: str, *, undo_attempt: bool) -> None:
        """Give leases back: undo_attempt for rows claimed but never handed to a handler."""
        with self.transaction() as conn:
            for part in _chunks(ids):
                conn.execute(
                    "UPDATE messages SET lease_until = 0, lease_owner = NULL,"
                    " attempts = max(attempts - ?, 0)"
                    f" WHERE id IN ({_marks(part)}) AND lease_owner = ?",
                    (int(undo_attempt), *part, owner),
                )

    def renew(self, owner: str, lease_seconds: float) -> int:
        """Extend every lease this owner holds: a live consumer keeps its messages."""
        with self.transaction() as conn:
            return conn.execute("UPDATE messages SET lease_until = ? WHERE lease_owner = ?",
                                (time.time() + lease_seconds, owner)).rowcount

    def _dead_letter(self, conn: sqlite3.Connection, message: StoredMessage,
                     spec: QueueSpec | None, reason: str) -> None:
        """Move to the queues the dead-letter exchange routes to, with RabbitMQ's x-death."""
        properties = message.properties
        routing_key = str(properties.get("routing_key") or "")
        targets: list[str] = []
        if spec and spec.dead_letter_exchange:
            dl_key = spec.dead_letter_routing_key or routing_key
            targets = [r[0] for r in conn.execute(
                "SELECT queue FROM bindings WHERE exchange = ? AND routing_key = ?"
                " ORDER BY queue", (spec.dead_letter_exchange, dl_key))]
        if not targets:
            logger.warning("dropping message %s from %s (%s): no dead-letter queue",
                           message.message_id, message.queue, reason)
            conn.execute("DELETE FROM messages WHERE id = ?", (message.id,))
            return
        headers = _with_death(message.headers, message.queue, reason,
                              str(properties.get("exchange") or ""), routing_key)
        encoded = json.dumps(headers)
        conn.execute("UPDATE messages SET queue = ?, headers = ?, attempts = 0, lease_until = 0,"
                     " lease_owner = NULL WHERE id = ?", (targets[0], encoded, message.id))
        for extra in targets[1:]:
            conn.execute(
                "INSERT INTO messages (queue, body, message_id, headers, properties,"
                " published_at) VALUES (?, ?, ?, ?, ?, ?)",
                (extra, message.body, message.message_id, encoded, json.dumps(properties),
                 time.time()),
            )


def _with_death(headers: dict[str, Any], queue: str, reason: str, exchange: str,
                routing_key: str) -> dict[str, Any]:
    headers = dict(headers)
    deaths = [dict(d) for d in headers.get("x-death", [])]
    for death in deaths:
        if death.get("queue") == queue and death.get("reason") == reason:
            death["count"] = int(death.get("count", 0)) + 1
            death["time"] = int(time.time())
            deaths.remove(death)
            deaths.insert(0, death)
            break
    else:
        deaths.insert(0, {"count": 1, "reason": reason, "queue": queue, "time": int(time.time()),
                          "exchange": exchange, "routing-keys": [routing_key]})
    headers["x-death"] = deaths
    headers.setdefault("x-first-death-queue", queue)
    headers.setdefault("x-first-death-reason", reason)
    headers.setdefault("x-first-death-exchange", exchange)
    return headers
