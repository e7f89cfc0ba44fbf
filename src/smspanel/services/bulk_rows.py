"""Many rows into one table, the fastest way each database has, inside the caller's
transaction: COPY on PostgreSQL, multi-row INSERTs of literal rows on MariaDB/MySQL, the
driver's own executemany on SQLite.

The ORM's executemany costs a statement per row on PostgreSQL (psycopg's pipeline) and, on
MariaDB, PyMySQL quotes every value of every row in Python; for a large send both were most
of its time. Values that every row shares are converted once. Each value goes through its
column's type, as the ORM would, and is then escaped by the driver itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

# One MariaDB statement: well under the server's max_allowed_packet (16 MB by default).
MYSQL_STATEMENT_CHARS = 1_000_000


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    shared: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows` (one value per name in `columns`), each with the values of `shared`."""
    connection = session.connection()
    dialect = connection.dialect
    shared = shared or {}
    names = [*shared, *columns]
    common = tuple(_bound(connection, table, name, value) for name, value in shared.items())
    converters = [_converter(connection, table, name) for name in columns]
    if any(converters):
        rows = (
            tuple(v if c is None else c(v) for c, v in zip(converters, row, strict=True))
            for row in rows
        )
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    into = f"{dialect.identifier_preparer.format_table(table)} ({quoted})"
    raw: Any = connection.connection.dbapi_connection
    if dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {into} FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*common, *row))
    elif dialect.name in ("mysql", "mariadb"):
        escape = raw.escape
        # The driver's cursor without parameters: PyMySQL then sends the text as it is, where
        # with any (SQLAlchemy passes an empty tuple) a % in a message would be a format.
        cursor = raw.cursor()
        prefix = ",".join(escape(value) for value in common)
        head = f"INSERT INTO {into} VALUES "
        statement: list[str] = []
        size = 0
        for row in rows:
            values = ",".join(escape(value) for value in row)
            item = f"({prefix},{values})" if prefix else f"({values})"
            statement.append(item)
            size += len(item) + 1
            if size >= MYSQL_STATEMENT_CHARS:
                cursor.execute(head + ",".join(statement))
                statement, size = [], 0
        if statement:
            cursor.execute(head + ",".join(statement))
    else:
        marks = ", ".join("?" for _ in names)
        raw.cursor().executemany(
            f"INSERT INTO {into} VALUES ({marks})", ((*common, *row) for row in rows)
        )


def _bound(connection: Connection, table: Table, name: str, value: Any) -> Any:
    convert = _converter(connection, table, name)
    return value if convert is None else convert(value)


def _converter(connection: Connection, table: Table, name: str) -> Any:
    """The column type's own conversion to what the driver takes (None when there is none)."""
    return table.c[name].type.bind_processor(connection.dialect)
