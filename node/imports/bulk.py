"""Bulk writes, one implementation per dialect: COPY on PostgreSQL, executemany elsewhere.

On PostgreSQL, multi-row INSERTs of 100,000 wide rows spend most of their time building and
parsing SQL text; binary COPY streams the rows instead, several times faster. Values go through
each column type's own bind processor first (enum names, JSON, UTC timestamps), so what is
stored is exactly what an INSERT would have stored.
"""

from __future__ import annotations

import itertools
import operator
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

T = TypeVar("T")


def _processors(table: sa.Table, columns: Sequence[str],
                dialect: sa.Dialect) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns]


def _binary_type(type_: sa.types.TypeEngine[Any]) -> str | None:
    """The PostgreSQL type whose binary COPY format fits the column, None if unsure."""
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa.String):  # VARCHAR, TEXT and non-native enums share one format
        return "text"
    if isinstance(type_, sa.Integer):
        return ("int8" if isinstance(type_, sa.BigInteger)
                else "int2" if isinstance(type_, sa.SmallInteger) else "int4")
    if isinstance(type_, sa.DateTime):
        return "timestamptz" if type_.timezone else "timestamp"
    for cls, name in ((sa.Date, "date"), (sa.JSON, "json"), (sa.Boolean, "bool"),
                      (sa.Numeric, "numeric")):
        if isinstance(type_, cls):
            return name
    return None


def insert_rows(session: Session, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) in the session's transaction.

    `rows` may be a generator: on PostgreSQL each row is sent as soon as it is made, so the
    server works through the rows while Python prepares the next ones.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), [first, *rows])
        return
    from psycopg import sql

    columns = list(first)
    processors = _processors(table, columns, connection.dialect)
    types = [_binary_type(table.c[name].type) for name in columns]
    binary = all(types)
    statement = sql.SQL("COPY {} ({}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")).format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    raw = connection.connection.dbapi_connection
    assert raw is not None
    values = operator.itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    converted = [(index, process) for index, process in enumerate(processors) if process]
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        if binary:
            copy.set_types(types)
        for row in itertools.chain((first,), rows):
            record = list(values(row))
            for index, process in converted:
                record[index] = process(record[index])
            copy.write_row(record)


def matching(session: Session, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """`column IN values`, split into conditions of a few parameters each.

    On PostgreSQL each condition is `column = ANY(array)`: one parameter for 10,000 values
    instead of 10,000 placeholders to render and parse; elsewhere, IN lists of 500.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    size = 10_000 if postgres else 500
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield _match(column, batch, postgres)
            batch = []
    if batch:
        yield _match(column, batch, postgres)


def _match(column: Any, values: list[Any], postgres: bool) -> Any:
    if not postgres:
        return column.in_(values)
    return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(column.type)))


_END = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` made ahead in a helper thread, at most `depth` ahead of the consumer.

    The consumer's waits on the database release the GIL, so the CPU work of making the next
    items overlaps them. The helper must not touch the session. Stops the helper on exit.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            outcome: Any = _END
        except BaseException as exc:  # handed to the consumer, raised there
            outcome = exc
        while not stop.is_set():
            try:
                ready.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    helper = threading.Thread(target=produce, name="bulk-prefetch", daemon=True)
    helper.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        helper.join()
