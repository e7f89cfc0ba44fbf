"""The month's use of a department's quota, read back straight from its table, for the tests
of quotas (departments themselves come from the `make` factory)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from smspanel.models import Department, DepartmentUsage, db, utcnow
from smspanel.services.quotas import month_of


def usage(app: Flask, department: Department, month: str | None = None) -> tuple[int, int, int]:
    """(segments used, messages, recipients) of the department's month, this one by default."""
    with app.app_context():
        row = db.session.execute(
            select(
                DepartmentUsage.segments_used,
                DepartmentUsage.message_count,
                DepartmentUsage.recipient_count,
            ).where(
                DepartmentUsage.department_id == department.id,
                DepartmentUsage.month == (month or month_of(utcnow())),
            )
        ).one_or_none()
        return tuple(row) if row else (0, 0, 0)  # type: ignore[return-value]
