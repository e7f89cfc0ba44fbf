"""What the maker-checker tests share: a department with an approval threshold, and its
members, made directly in the database (the departments admin pages are elsewhere)."""

from __future__ import annotations

import secrets

from flask import Flask
from sqlalchemy import update

from smspanel.models import Department, User, db


def department(app: Flask, threshold: int = 3, name: str | None = None) -> int:
    """A department whose sends to `threshold` recipients or more wait for an approver."""
    with app.app_context():
        unit = Department(name=name or f"Unit {secrets.token_hex(3)}", approval_threshold=threshold)
        db.session.add(unit)
        db.session.commit()
        return unit.id


def member(
    make, department_id: int | None, role: str = "sender", username: str | None = None, **kw
) -> User:
    """A user of the department with the role (`is_admin=True` for an admin)."""
    user = make.user(username, **kw)
    with make.app.app_context():
        db.session.execute(
            update(User).where(User.id == user.id).values(department_id=department_id, role=role)
        )
        db.session.commit()
    user.department_id, user.role = department_id, role
    return user
