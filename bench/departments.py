"""A department member's listings: their own messages and their department's, in process.

    python -m bench.departments [--database-url URL] [--messages N] [--samples N]

Seeds N messages (default 300,000) over a year: a department of 10 senders holds a third,
the member measured (`ann`) sent 20,000, half of them from the department and half before
she joined it; the rest belong to others. Times the history page (first page, a deep page
by number, a Next cursor, a status filter, a search), GET /api/sms's page with its exact
total, and the dashboard, for ann in the department and for ann alone (the scope without
a department, as before), and prints each plan. SQLite by default, in a temporary file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

YEAR = timedelta(days=365)


def seed(messages: int) -> dict[str, Any]:
    from smspanel.models import Department, Message, MessageTally, User, db

    db.session.execute(
        insert(Department.__table__),
        [
            {
                "id": 1,
                "name": "Finance",
                "monthly_segment_quota": 0,
                "approval_threshold": 0,
                "created_at": datetime.now(UTC),
            }
        ],
    )
    users = [
        {
            "id": n,
            "username": f"user{n}",
            "password_hash": "x",
            "is_admin": False,
            "is_active": True,
            "created_at": datetime.now(UTC),
            "role": "sender",
            "department_id": 1 if n <= 10 else None,
        }
        for n in range(1, 31)
    ]
    db.session.execute(insert(User.__table__), users)
    end = datetime.now(UTC)
    step = YEAR / messages
    rows = []
    counts: dict[int, int] = {}
    for i in range(messages):
        if i % 15 == 0:  # ann (user 1): 1 in 15, half before joining Finance
            user_id, department_id = 1, (1 if i >= messages // 2 else None)
        elif i % 3 == 0:  # Finance's other nine senders
            user_id, department_id = 2 + i % 9, 1
        else:
            user_id, department_id = 11 + i % 20, None
        counts[user_id] = counts.get(user_id, 0) + 1
        status = "failed" if i % 97 == 0 else "scheduled" if i > messages - 50 else "sent"
        rows.append(
            {
                "id": i + 1,
                "user_id": user_id,
                "department_id": department_id,
                "content": f"{'Typhoon' if i % 50 == 0 else 'Notice'} {i}",
                "segments": 1,
                "status": status,
                "recipient_count": 1,
                "sent_count": 1 if status == "sent" else 0,
                "failed_count": 1 if status == "failed" else 0,
                "skipped_count": 0,
                "cancelled_count": 0,
                "created_at": end - YEAR + step * i,
                "personalised": False,
                "commercial": False,
                "priority": "normal",
            }
        )
        if len(rows) == 5000:
            db.session.execute(insert(Message.__table__), rows)
            rows = []
    if rows:
        db.session.execute(insert(Message.__table__), rows)
    db.session.execute(
        insert(MessageTally.__table__),
        [{"user_id": u, "message_count": counts.get(u, 0)} for u in range(1, 31)],
    )
    db.session.commit()
    return {"ann": 1, "department": 1}


def timed(samples: int, work) -> float:  # type: ignore[no-untyped-def]
    work()  # warm
    spent = []
    for _ in range(samples):
        start = time.perf_counter()
        work()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent)


def plan(statement: Any) -> str:
    from smspanel.models import db

    bind = db.session.get_bind()
    compiled = statement.compile(bind, compile_kwargs={"literal_binds": True})
    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}.get(
        bind.dialect.name, "EXPLAIN "
    )
    rows = db.session.execute(text(prefix + str(compiled))).all()
    return "\n".join("  " + " | ".join(str(c) for c in row) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--plans", action="store_true")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{directory / 'departments.db'}"
    os.environ["SMSPANEL_INSTANCE_PATH"] = str(directory)

    from smspanel import create_app
    from smspanel.models import db
    from smspanel.services.api_listing import list_api_messages
    from smspanel.services.dashboard import dashboard
    from smspanel.services.history import list_messages, matching_ids, message_branches
    from smspanel.services.history_filters import HistoryFilters
    from smspanel.services.ownership import MessageScope

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SMS_IN_APP_DISPATCHER": False,
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key-long-enough-0000000",
        }
    )
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        ids = seed(args.messages)
        if db.engine.dialect.name == "sqlite":
            db.session.execute(text("ANALYZE"))
        elif db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE messages"))
        else:
            db.session.execute(text("ANALYZE TABLE messages"))
        db.session.commit()
        print(f"seeded {args.messages:,} messages in {time.perf_counter() - started:.0f} s")
        ann = ids["ann"]
        cursor = list_messages(db.session, HistoryFilters(page=50), MessageScope.of_user(ann, 1))
        before = cursor.items[-1][0].id
        for label, scope, department in (
            ("ann in Finance", MessageScope.of_user(ann, 1), 1),
            ("ann alone", MessageScope.of_user(ann), None),
        ):
            cases = {
                "/history": HistoryFilters(),
                "/history?page=500": HistoryFilters(page=500),
                "/history Next (page 51)": HistoryFilters(page=51, before=before),
                "/history?status=failed": HistoryFilters(status="failed"),
                "/history?search=typhoon": HistoryFilters(search="typhoon"),
            }
            for name, filters in cases.items():
                ms = timed(args.samples, lambda f=filters, s=scope: list_messages(db.session, f, s))
                print(f"{label:15} {name:26} {ms:7.2f} ms")
                if args.plans and name in ("/history", "/history?status=failed"):
                    branches, _ = message_branches(db.session, filters, scope)
                    print(plan(matching_ids(branches, limit=21)))
            ms = timed(
                args.samples,
                lambda d=department: list_api_messages(db.session, ann, 1, 20, d),
            )
            print(f"{label:15} {'GET /api/sms (+ total)':26} {ms:7.2f} ms")
            ms = timed(args.samples, lambda s=scope: dashboard(db.session, s, "7d"))
            print(f"{label:15} {'dashboard (7 days)':26} {ms:7.2f} ms")
            db.session.rollback()


if __name__ == "__main__":
    main()
