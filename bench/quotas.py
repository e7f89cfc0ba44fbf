"""What the quota check adds to POST /api/sms (issue 13: under 2 ms).

    python -m bench.quotas [--database-url URL] [--requests N]

In process, through the app's test client, so the figure is the request's own work (token,
validation, the accept's transaction, the answer) without a network or a server between:
three users send single SMS in turn, one without a department (nothing reserved), one in a
department without a quota (the month's row is still counted) and one in a department with
a quota (the early read and the conditional UPDATE). The difference of the medians is the
figure; `cpu_ms` is this process's CPU per request (on SQLite the database's work too).
Without `--database-url` a new SQLite file in a temporary folder; a server URL must name a
scratch database, whose tables are dropped and made again.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.harness import MOBILE_BLOCK, emit
from bench.in_process import scratch_app

WARM_UP = 50
KINDS = ("no_department", "department_no_quota", "department_with_quota")


def run(database_url: str | None, requests: int) -> None:
    from sqlalchemy import update

    from smspanel.models import Department, User, db
    from smspanel.services.accounts import create_user
    from smspanel.services.tokens import issue_token

    with scratch_app(database_url, "quotas") as (app, dialect):
        headers: dict[str, dict[str, str]] = {}
        with app.app_context():
            unlimited = Department(name="Unlimited", monthly_segment_quota=0)
            limited = Department(name="Limited", monthly_segment_quota=10**12)
            db.session.add_all([unlimited, limited])
            db.session.commit()
            departments = {"department_no_quota": unlimited.id, "department_with_quota": limited.id}
            for kind in KINDS:
                user = create_user(db.session, kind, "bench user password 1")
                if kind in departments:
                    db.session.execute(
                        update(User)
                        .where(User.id == user.id)
                        .values(department_id=departments[kind])
                    )
                    db.session.commit()
                token = issue_token(db.session, db.session.get(User, user.id))
                headers[kind] = {"Authorization": f"Bearer {token}"}
            db.session.remove()
        client = app.test_client()
        spent: dict[str, list[float]] = {kind: [] for kind in KINDS}
        cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
        number = MOBILE_BLOCK
        for round_ in range(WARM_UP + requests):
            for kind in KINDS:  # in turn, so none gets a quieter moment of the machine
                number += 1
                body = {"recipient": str(number), "content": "bench"}
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.post("/api/sms", json=body, headers=headers[kind])
                elapsed = time.perf_counter() - started
                cpu_used = time.process_time() - cpu_started
                assert response.status_code == 202, response.get_data(as_text=True)
                if round_ >= WARM_UP:
                    spent[kind].append(elapsed * 1000)
                    cpu[kind].append(cpu_used * 1000)
        medians = {kind: statistics.median(spent[kind]) for kind in KINDS}
        cpu_medians = {kind: statistics.median(cpu[kind]) for kind in KINDS}
        for kind in KINDS:
            emit(f"api_send_in_process_ms_{kind}", medians[kind], "ms", dialect=dialect,
                 requests=requests, cpu_ms=round(cpu_medians[kind], 3),
                 p90=round(sorted(spent[kind])[int(0.9 * requests)], 2))  # fmt: skip
        emit("api_send_quota_check_added_ms",
             medians["department_with_quota"] - medians["no_department"], "ms", at_most=2.0,
             dialect=dialect, requests=requests,
             cpu_ms=round(cpu_medians["department_with_quota"] - cpu_medians["no_department"], 3),
             without_quota_ms=round(medians["department_no_quota"] - medians["no_department"], 3),
             note="median POST /api/sms, department with a quota minus no department")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    run(args.database_url, args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
