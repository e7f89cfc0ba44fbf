"""Failed-login counts: exact under concurrency, per window, shared through the database;
and the lockout rule that bounds guessing without locking the owner out."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import func, select, update

from smspanel.models import LoginFailureCount, db, utcnow
from smspanel.services.login_throttle import (
    ADDRESS,
    DatabaseCounts,
    Limit,
    LoginThrottle,
    StoreCounts,
)

WINDOW = timedelta(minutes=15)
TEN = Limit(10, WINDOW)


@pytest.fixture
def counts(app):
    with app.app_context():
        yield DatabaseCounts(db.engine)


@pytest.fixture(params=["database", "memory"])
def any_counts(request, app):
    with app.app_context():
        yield DatabaseCounts(db.engine) if request.param == "database" else StoreCounts("memory://")


def stored_failures(app, scope, subject):
    with app.app_context():
        return db.session.scalar(
            select(LoginFailureCount.failures).where(
                LoginFailureCount.scope == scope, LoginFailureCount.subject == subject
            )
        )


def test_limit_notation_is_the_settings_one():
    assert Limit.parse("10 per 15 minutes") == Limit(10, timedelta(minutes=15))
    assert Limit.parse("30/minute") == Limit(30, timedelta(minutes=1))
    with pytest.raises(ValueError):
        Limit.parse("ten a while")


def test_attempts_are_counted_up_to_the_limit_then_refused(any_counts):
    taken = [any_counts.take("login-account", "alice", TEN, WINDOW) for _ in range(12)]
    assert [t.place is not None for t in taken] == [True] * 10 + [False] * 2
    assert 0 < taken[-1].retry_after <= WINDOW.total_seconds()
    assert any_counts.count("login-account", "alice", WINDOW) == 10
    assert any_counts.take("login-account", "bob", TEN, WINDOW).place is not None


def test_a_place_given_back_is_free_again(any_counts):
    places = [any_counts.take("login-account", "alice", TEN, WINDOW).place for _ in range(10)]
    any_counts.give_back(places[0])
    assert any_counts.count("login-account", "alice", WINDOW) == 9
    assert any_counts.take("login-account", "alice", TEN, WINDOW).place is not None
    assert any_counts.take("login-account", "alice", TEN, WINDOW).place is None


def test_a_new_window_starts_from_one(app, counts):
    for _ in range(10):
        counts.take("login-account", "alice", TEN, WINDOW)
    with app.app_context():
        db.session.execute(
            update(LoginFailureCount).values(window_started_at=utcnow() - WINDOW - timedelta(1))
        )
        db.session.commit()
    assert counts.count("login-account", "alice", WINDOW) == 0
    assert counts.take("login-account", "alice", TEN, WINDOW).place is not None
    assert stored_failures(app, "login-account", "alice") == 1


def test_a_place_from_an_ended_window_is_not_given_back_to_the_next(app, counts):
    old = counts.take("login-account", "alice", TEN, WINDOW).place
    with app.app_context():
        db.session.execute(
            update(LoginFailureCount).values(window_started_at=utcnow() - WINDOW - timedelta(1))
        )
        db.session.commit()
    counts.take("login-account", "alice", TEN, WINDOW)
    counts.give_back(old)
    assert stored_failures(app, "login-account", "alice") == 1


def test_old_windows_are_purged(app, counts):
    counts.take("login-account", "old", TEN, WINDOW)
    with app.app_context():
        db.session.execute(
            update(LoginFailureCount).values(window_started_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    counts.take("login-account", "new", TEN, WINDOW)
    assert counts.purge(utcnow() - WINDOW) == 1
    with app.app_context():
        assert db.session.scalars(select(LoginFailureCount.subject)).all() == ["new"]


@pytest.mark.parametrize("limit", [None, Limit(25, WINDOW)])
def test_concurrent_failures_are_counted_exactly(app, counts, limit):
    """Forty threads at once on one account (on the database under test): each attempt is
    counted once, and never more than the limit get a place."""
    threads = 40
    start = Barrier(threads)

    def attempt(_):
        start.wait()
        return counts.take("login-account", "alice", limit, WINDOW).place is not None

    with ThreadPoolExecutor(threads) as pool:
        taken = sum(pool.map(attempt, range(threads)))
    expected = threads if limit is None else limit.amount
    assert taken == expected
    assert stored_failures(app, "login-account", "alice") == expected
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginFailureCount)) == 1


# --- the lockout rule -------------------------------------------------------------------------


@pytest.fixture
def throttle(counts):
    return LoginThrottle(counts, TEN, Limit(1000, timedelta(minutes=1)))


def guess(throttle, address, account="alice", right=False):
    """One attempt; 'ok', 'failed' or 'refused'."""
    attempt = throttle.begin("login-account", account, address)
    if attempt.refused:
        return "refused"
    if right:
        attempt.succeeded()
        return "ok"
    attempt.failed()
    return "failed"


def test_one_address_gets_the_limit_of_guesses_and_then_not_even_the_right_password(throttle):
    results = [guess(throttle, "192.0.2.1") for _ in range(12)]
    assert results == ["failed"] * 10 + ["refused"] * 2
    assert guess(throttle, "192.0.2.1", right=True) == "refused"


def test_many_addresses_together_get_at_most_twice_the_limit(throttle):
    first = [guess(throttle, "192.0.2.1") for _ in range(10)]
    spread = [guess(throttle, f"198.51.100.{n}") for n in range(1, 31)]
    again = [guess(throttle, f"198.51.100.{n}") for n in range(1, 31)]
    assert first == ["failed"] * 10
    assert spread == ["failed"] * 10 + ["refused"] * 20  # one each, up to 20 in all
    assert set(again) == {"refused"}  # an address that failed is no longer fresh


def test_the_owner_gets_in_from_a_fresh_address_while_the_account_is_full(throttle):
    for _ in range(10):
        guess(throttle, "192.0.2.1")
    assert guess(throttle, "203.0.113.7", right=True) == "ok"
    assert guess(throttle, "203.0.113.7", right=True) == "ok"  # a success leaves it fresh
    assert guess(throttle, "192.0.2.1", right=True) == "refused"


def test_the_owner_who_mistyped_waits_like_the_attacker(throttle):
    guess(throttle, "203.0.113.7")  # the owner's typo
    for _ in range(9):
        guess(throttle, "192.0.2.1")
    assert guess(throttle, "203.0.113.7", right=True) == "refused"


def test_successes_give_every_place_back(throttle, counts):
    for _ in range(30):
        assert guess(throttle, "192.0.2.1", right=True) == "ok"
    assert counts.count("login-account", "alice", WINDOW) == 0
    assert counts.count(ADDRESS, "192.0.2.1", WINDOW) == 0


def test_the_address_limit_blocks_every_account(counts):
    throttle = LoginThrottle(counts, TEN, Limit(5, timedelta(minutes=1)))
    results = [guess(throttle, "192.0.2.1", account=f"guess{n}") for n in range(7)]
    assert results == ["failed"] * 5 + ["refused"] * 2
    assert guess(throttle, "192.0.2.1", account="bob", right=True) == "refused"
    assert guess(throttle, "192.0.2.2", account="bob", right=True) == "ok"


def test_concurrent_guesses_from_one_address_stay_within_the_limit(throttle):
    """Attempts in flight hold their places, so a burst at a full account cannot slip
    through the fresh-address door more than once."""
    threads = 30
    start = Barrier(threads)

    def attempt(_):
        start.wait()
        return guess(throttle, "192.0.2.1")

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    assert results.count("failed") == 10


@pytest.mark.parametrize("name", ["adm\x00in", "\ud800alice", "a" * 5000])
def test_any_name_can_be_counted_on_every_database(any_counts, name):
    """NUL (PostgreSQL refuses it), a lone surrogate (MariaDB's utf8mb4 refuses it) and a
    name longer than the column are kept as their hash, each its own count."""
    for _ in range(10):
        assert any_counts.take("login-account", name, TEN, WINDOW).place is not None
    assert any_counts.take("login-account", name, TEN, WINDOW).place is None
    assert any_counts.take("login-account", name[:-1], TEN, WINDOW).place is not None
