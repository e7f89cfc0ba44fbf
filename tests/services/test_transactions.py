"""One use case, one transaction: all of it is stored, or none of it."""

import pytest
from sqlalchemy import func, select

from smspanel.models import AuditEvent, db
from smspanel.services.audit import record
from smspanel.services.transactions import after_commit, transaction


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_use_case_that_fails_midway_leaves_nothing_behind(app):
    with app.app_context():
        with pytest.raises(RuntimeError), transaction(db.session):
            record(db.session, "user.create", "first step")
            raise RuntimeError("the second step failed")
        assert audit_count() == 0


def test_a_use_case_inside_another_commits_with_the_outer_one(app):
    with app.app_context():
        with pytest.raises(RuntimeError), transaction(db.session):
            with transaction(db.session):
                record(db.session, "user.create", "inner use case")
            raise RuntimeError("the outer use case failed after the inner one")
        assert audit_count() == 0
        with transaction(db.session), transaction(db.session):
            record(db.session, "user.create", "both succeed")
        db.session.rollback()  # nothing left uncommitted to lose
        assert audit_count() == 1


def test_after_commit_runs_only_once_the_outer_transaction_has_committed(app):
    ran: list[str] = []
    with app.app_context():
        with transaction(db.session):
            with transaction(db.session):
                after_commit(db.session, lambda: ran.append("inner"))
            assert ran == []
        assert ran == ["inner"]
        with pytest.raises(RuntimeError), transaction(db.session):
            after_commit(db.session, lambda: ran.append("rolled back"))
            raise RuntimeError
        assert ran == ["inner"]
        with pytest.raises(RuntimeError):
            after_commit(db.session, lambda: None)  # outside any transaction
