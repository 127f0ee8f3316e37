"""Bulk inserts for the ledger's hot path.

On SQLite the generic executemany spends most of its time converting each value;
here rows go straight to the driver, with timestamps written in exactly the text
form SQLAlchemy's SQLite DateTime writes (so reads through the models agree).
On PostgreSQL large batches are streamed with COPY (psycopg), small ones inserted
with SQLAlchemy's multi-row INSERT. Table and column names always come from the
models' metadata, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Connection, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db import UTCDateTime

_ZERO = timedelta(0)
# Below this many rows a multi-row INSERT beats setting up a COPY.
_COPY_THRESHOLD = 64


def sqlite_timestamp(value: datetime | None) -> str | None:
    """``value`` in the text form SQLAlchemy's SQLite DateTime stores (UTC, no offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware UTC timestamp is required")
    if value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_boolean(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converter(column: Any) -> Any:
    if isinstance(column.type, UTCDateTime):
        return sqlite_timestamp
    if isinstance(column.type, Boolean):
        return _sqlite_boolean
    return None


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict_keys: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (dicts with every column) into ``table``; with ``conflict_keys``, upsert."""
    if not rows:
        return
    columns = [column.name for column in table.columns if column.name in rows[0]]
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # Names come from the table's own metadata, never from input.
        statement = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        if conflict_keys:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in conflict_keys)
            statement += f" ON CONFLICT ({', '.join(conflict_keys)}) DO UPDATE SET {updates}"
        converted = [
            (position, convert)
            for position, convert in enumerate(_converter(table.columns[name]) for name in columns)
            if convert is not None
        ]
        # A batch shares a handful of timestamps (its clock reading): convert each once.
        memo: dict[tuple[Any, Any], Any] = {}
        values = []
        for row in rows:
            cells = [row[name] for name in columns]
            for position, convert in converted:
                value = cells[position]
                if value is not None:
                    key = (convert, value)
                    cell = memo.get(key)
                    if cell is None:
                        cell = memo[key] = convert(value)
                    cells[position] = cell
            values.append(tuple(cells))
        connection.exec_driver_sql(statement, values)
        return
    if len(rows) >= _COPY_THRESHOLD:
        _postgres_copy(connection, table, columns, rows, conflict_keys)
        return
    if conflict_keys:
        upsert = pg_insert(table)
        upsert = upsert.on_conflict_do_update(
            index_elements=list(conflict_keys),
            set_={c: upsert.excluded[c] for c in columns if c not in conflict_keys},
        )
        session.execute(upsert, list(rows))
    else:
        session.execute(insert(table), list(rows))


def _postgres_copy(
    connection: Connection,
    table: Table,
    columns: list[str],
    rows: Sequence[dict[str, Any]],
    conflict_keys: Sequence[str],
) -> None:
    """COPY the rows in (through a staging table when they may conflict): one round trip."""
    names = ", ".join(columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    target = table.name
    with driver.cursor() as cursor:
        if conflict_keys:
            target = f"_stage_{table.name}"
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} "
                f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            cursor.execute(f"TRUNCATE {target}")
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
        if conflict_keys:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in conflict_keys)
            cursor.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target} "  # noqa: S608
                f"ON CONFLICT ({', '.join(conflict_keys)}) DO UPDATE SET {updates}"
            )
