"""Accepting a send against full registers (issue 12): 100,000 recipients, commercial, with
2,000,000 numbers on the do-not-call register and 100,000 opted out.

    python -m bench.registers [--database-url URL] [--recipients N] [--dnc N] [--opt-outs N]

In-process, through `sending.accept_send` (the API and the web call it the same way), so
the figure is the use case's own: classification, the registers' set-based look-ups (timed
on their own as `registers_lookup_s`), the multi-row inserts and the commit. The registers
are loaded straight into the tables (COPY on PostgreSQL, executemany elsewhere). 10% of
the send's numbers are on the do-not-call register and 1% opted out; the rest of both
registers are other mobile numbers. Without
`--database-url` a new SQLite file in a temporary folder; a server URL must name a scratch
database, whose tables are dropped and made again. `cpu_s` is this process's CPU time (on
SQLite the database's work too): on a busy machine it says more than the wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import insert, text

from bench.harness import emit
from bench.in_process import scratch_app

SEND_FIRST = 61_000_000  # 6100 0000 onwards: mobile numbers
OTHER_FIRST = 90_100_000  # the registers' other numbers: 9010 0000 onwards, mobile too
ROUNDS = 3


def load_registers(session, send: list[str], dnc: int, opt_outs: int) -> None:
    """The registers, 10% and 1% of them from the send's numbers."""
    from smspanel.models import DncImport, DncImportStatus, OptOut, utcnow

    on_dnc = send[::10]
    dnc_numbers = on_dnc + [str(OTHER_FIRST + n) for n in range(dnc - len(on_dnc))]
    opted = send[::100]
    opted += [str(OTHER_FIRST + 3 * n + 1) for n in range(opt_outs - len(opted))]
    import_id = session.execute(
        insert(DncImport).values(
            status=DncImportStatus.ACTIVE,
            filename="bench.txt",
            number_count=len(dnc_numbers),
            started_at=utcnow(),
            imported_at=utcnow(),
        )
    ).inserted_primary_key[0]
    session.commit()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor().copy("COPY dnc_numbers (import_id, phone) FROM STDIN") as copy:
            for phone in dnc_numbers:
                copy.write_row((import_id, phone))
    else:  # the driver's own executemany: SQLAlchemy's per-row work would triple the time
        raw = connection.connection.driver_connection
        mark = "?" if connection.dialect.name == "sqlite" else "%s"
        cursor = raw.cursor()
        for start in range(0, len(dnc_numbers), 50_000):
            cursor.executemany(
                f"INSERT INTO dnc_numbers (import_id, phone) VALUES ({mark}, {mark})",
                [(import_id, p) for p in dnc_numbers[start : start + 50_000]],
            )
    session.execute(
        insert(OptOut),
        [{"phone": p, "reason": "bench", "source": "csv", "created_at": utcnow()} for p in opted],
    )
    session.commit()
    analyse = {"sqlite": "ANALYZE", "postgresql": "ANALYZE"}.get(connection.dialect.name)
    if analyse:
        session.execute(text(analyse))
        session.commit()


@contextmanager
def register_lookups() -> Iterator[list[float]]:
    """The seconds each look-up of the registers took (their rows fetched), while the block
    runs: `sending.registered_numbers`, timed where the send calls it."""
    from smspanel.services import sending

    spent: list[float] = []
    looked_up = sending.registered_numbers

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return looked_up(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    sending.registered_numbers = timed  # type: ignore[assignment]
    try:
        yield spent
    finally:
        sending.registered_numbers = looked_up  # type: ignore[assignment]


def run(database_url: str | None, recipients: int, dnc: int, opt_outs: int) -> None:
    from smspanel.models import db
    from smspanel.services.accounts import create_user
    from smspanel.services.eligibility import SendPolicy
    from smspanel.services.sending import accept_send

    with scratch_app(database_url, "registers") as (app, dialect):
        send = [str(SEND_FIRST + n) for n in range(recipients)]
        policy = SendPolicy.from_settings(app.config)
        with app.app_context():
            user = create_user(db.session, "bench", "bench user password 1")
            baseline, baseline_cpu = [], []
            for _ in range(ROUNDS):  # the same send before any register holds a number
                started, cpu = time.perf_counter(), time.process_time()
                accept_send(db.session, user.id, send, "Sale", policy=policy)
                baseline.append(time.perf_counter() - started)
                baseline_cpu.append(time.process_time() - cpu)
            emit(f"accept_{recipients}_empty_registers_s", statistics.median(baseline), "s",
                 dialect=dialect, rounds=ROUNDS, best=round(min(baseline), 3),
                 cpu_s=round(statistics.median(baseline_cpu), 3),
                 note="the baseline: registers empty")  # fmt: skip
            started = time.perf_counter()
            load_registers(db.session, send, dnc, opt_outs)
            emit("registers_load_s", time.perf_counter() - started, "s", dialect=dialect,
                 dnc=dnc, opt_outs=opt_outs, note="setup: COPY or executemany")  # fmt: skip
            # Plain and commercial in turn, so neither gets the emptier table.
            timings: dict[bool, list[float]] = {False: [], True: []}
            in_registers: dict[bool, list[float]] = {False: [], True: []}
            cpu_used: dict[bool, list[float]] = {False: [], True: []}
            skipped: dict[bool, int] = {}
            for _ in range(ROUNDS):
                for commercial in (False, True):
                    with register_lookups() as spent:
                        started, cpu = time.perf_counter(), time.process_time()
                        accepted = accept_send(
                            db.session, user.id, send, "Sale", commercial=commercial, policy=policy
                        )
                        timings[commercial].append(time.perf_counter() - started)
                        cpu_used[commercial].append(time.process_time() - cpu)
                    in_registers[commercial].append(sum(spent))
                    skipped[commercial] = accepted.skipped_count
            for commercial, taken in timings.items():
                in_sql = statistics.median(in_registers[commercial])
                kind = "commercial" if commercial else "plain"
                target = {"at_most": 3.0} if commercial else {}
                emit(f"accept_{recipients}_{kind}_with_registers_s", statistics.median(taken),
                     "s", **target, dialect=dialect, recipients=recipients, dnc=dnc,
                     opt_outs=opt_outs, skipped=skipped[commercial], rounds=ROUNDS,
                     best=round(min(taken), 3), worst=round(max(taken), 3),
                     registers_lookup_s=round(in_sql, 3),
                     cpu_s=round(statistics.median(cpu_used[commercial]), 3))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--dnc", type=int, default=2_000_000)
    parser.add_argument("--opt-outs", type=int, default=100_000)
    args = parser.parse_args()
    run(args.database_url, args.recipients, args.dnc, args.opt_outs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
