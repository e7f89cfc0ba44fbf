"""Record the SQL a piece of work sends, to show a page costs a fixed number of queries; and
read the plan a database chooses for a statement, to show a query stays on its index."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import Executable, Select, event, text
from sqlalchemy.orm import Session

from smspanel.models import db


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """Every statement sent to the app's database inside the block, in order."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def query_plan(session: Session, statement: Executable) -> str:
    """The database's plan for `statement` as text: SQLite's EXPLAIN QUERY PLAN details,
    PostgreSQL's EXPLAIN lines, or per table MySQL/MariaDB's chosen index and its Extra."""
    dialect = session.get_bind().dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "sqlite":
        return "\n".join(row[3] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    if dialect.name == "postgresql":
        return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {sql}")))
    rows = session.execute(text(f"EXPLAIN {sql}")).mappings()
    return "\n".join(f"{row['table']}: key={row['key']} {row['Extra']}" for row in rows)


def analyse(session: Session) -> None:
    """Fresh planner statistics, as a running app keeps (sqlite_tuning.py) and servers do."""
    name = session.get_bind().dialect.name
    session.execute(text("ANALYZE TABLE recipients" if name in ("mysql", "mariadb") else "ANALYZE"))
    session.commit()


def assert_reads_index_in_order(
    session: Session,
    statement: Select[Any],
    index: str,
    *,
    locked: bool = False,
    ties_sorted: bool = False,
) -> None:
    """The plan reads `index` (alone, where the database says so) in the statement's order:
    no table scan, no sort (`ties_sorted`: PostgreSQL may sort rows of equal leading key)."""
    if locked:
        statement = statement.with_for_update(skip_locked=True)
    plan = query_plan(session, statement)
    name = session.get_bind().dialect.name
    if name == "sqlite":
        ok = f"USING COVERING INDEX {index} " in plan and "TEMP B-TREE" not in plan
    elif name == "postgresql":
        plain_sort = re.search(r"(^|->\s+)Sort\b", plan, re.M)
        incremental = "Incremental Sort" in plan
        ok = (
            f"using {index} on recipients" in plan
            and "Seq Scan" not in plan
            and not plain_sort
            and (ties_sorted or not incremental)
        )
    else:
        ok = f"key={index} " in plan and "Using index" in plan and "filesort" not in plan
    assert ok, f"{statement}\n---\n{plan}"
