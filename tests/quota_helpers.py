"""Departments with a quota made straight in the tables (their admin pages have tests of
their own), and the month's usage read back, for the tests of quotas."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import insert, select, update

from smspanel.models import Department, DepartmentUsage, User, db, utcnow
from smspanel.services.quotas import month_of


def department(app: Flask, name: str = "Schools", quota: int = 0, *members: User) -> int:
    """A department with `quota` segments a month (0: none), and `members` put in it."""
    with app.app_context():
        department_id = db.session.execute(
            insert(Department).values(name=name, monthly_segment_quota=quota)
        ).inserted_primary_key[0]
        db.session.commit()
    for member in members:
        join(app, member, department_id)
    return department_id


def join(app: Flask, user: User, department_id: int | None) -> None:
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == user.id).values(department_id=department_id)
        )
        db.session.commit()


def usage(app: Flask, department_id: int, month: str | None = None) -> tuple[int, int, int]:
    """(segments used, messages, recipients) of the department's month, this one by default."""
    with app.app_context():
        row = db.session.execute(
            select(
                DepartmentUsage.segments_used,
                DepartmentUsage.message_count,
                DepartmentUsage.recipient_count,
            ).where(
                DepartmentUsage.department_id == department_id,
                DepartmentUsage.month == (month or month_of(utcnow())),
            )
        ).one_or_none()
        return tuple(row) if row else (0, 0, 0)  # type: ignore[return-value]
