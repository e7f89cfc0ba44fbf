"""Departments and roles: admins keep departments, put users in them with a role, and each
role may do what services/departments.py says; every change is audited, bad input none."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import AuditEvent, Department, Message, User, db
from smspanel.services.departments import (
    NO_DEPARTMENT,
    Assignment,
    DepartmentError,
    NotAllowedToSend,
    assign,
    create_department,
    list_departments,
    may_cancel,
    may_send,
    members,
    read_assignment,
    read_limit,
    sender_standing,
    update_limits,
)
from smspanel.services.sending import accept_send


def events(action: str) -> list[tuple[str, str]]:
    return [
        (e.target, e.detail)
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    ]


def test_a_new_department_has_no_quota_and_no_approvals_and_is_audited(app):
    with app.app_context():
        department = create_department(db.session, "  Finance  ")
        assert (department.name, department.monthly_segment_quota) == ("Finance", 0)
        assert department.approval_threshold == 0
        assert events("department.create") == [(f"department:{department.id} Finance", "")]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "enter a name"),
        ("   ", "enter a name"),
        ("x" * 101, "at most 100"),
        ("a\nb", "one line"),
    ],
)
def test_a_department_needs_a_name_on_one_line(app, name, problem):
    with app.app_context():
        with pytest.raises(DepartmentError, match=problem) as refused:
            create_department(db.session, name)
        assert list(refused.value.errors) == ["name"]
        assert db.session.scalar(select(func.count(Department.id))) == 0


def test_a_name_already_used_in_any_case_is_refused(app, make):
    make.department("Finance")
    with app.app_context():
        with pytest.raises(DepartmentError, match="already a department called 'FINANCE'"):
            create_department(db.session, "FINANCE")
        assert db.session.scalar(select(func.count(Department.id))) == 1


def test_the_list_counts_each_departments_members(app, make):
    finance, clinic = make.department("Finance"), make.department("clinic")
    make.department("Empty")
    make.user("ann", department=finance)
    make.user("ben", department=finance, role="viewer")
    make.user("cat", department=clinic, role="approver")
    make.user("loner")
    with app.app_context():
        rows = [(row.department.name, row.member_count) for row in list_departments(db.session)]
        assert rows == [("clinic", 1), ("Empty", 0), ("Finance", 2)]
        assert [u.username for u in members(db.session, finance.id)] == ["ann", "ben"]


def test_limits_are_set_together_and_audited(app, make):
    department = make.department("Finance")
    with app.app_context():
        stored = db.session.get(Department, department.id)
        update_limits(db.session, stored, "50,000", " 500 ")
        update_limits(db.session, stored, "50000", "500")  # unchanged: no second record
        assert (stored.monthly_segment_quota, stored.approval_threshold) == (50_000, 500)
        assert events("department.update") == [
            (
                f"department:{department.id} Finance",
                "monthly_segment_quota 0 -> 50000; approval_threshold 0 -> 500",
            )
        ]


@pytest.mark.parametrize("bad", ["-1", "abc", "", "  ", "1.5", "１２", "9" * 20, None])
def test_a_bad_limit_names_its_field_and_changes_nothing(app, make, bad):
    department = make.department("Finance", quota=100, threshold=10)
    with app.app_context():
        stored = db.session.get(Department, department.id)
        with pytest.raises(DepartmentError) as refused:
            update_limits(db.session, stored, "200", bad)
        assert list(refused.value.errors) == ["approval_threshold"]
        with pytest.raises(DepartmentError) as refused:
            update_limits(db.session, stored, bad, bad)
        assert list(refused.value.errors) == ["monthly_segment_quota", "approval_threshold"]
        db.session.expire_all()
        stored = db.session.get(Department, department.id)
        assert (stored.monthly_segment_quota, stored.approval_threshold) == (100, 10)
        assert len(events("department.update")) == 1  # the factory's own


def test_zero_means_none_or_never():
    assert read_limit("monthly_segment_quota", "0") == 0
    assert read_limit("approval_threshold", 0) == 0


def test_an_assignment_names_a_real_department_and_a_known_role(app, make):
    department = make.department("Finance")
    with app.app_context():
        assert read_assignment(db.session, str(department.id), "viewer") == Assignment(
            department.id, "viewer"
        )
        assert read_assignment(db.session, "", "") == NO_DEPARTMENT
        assert read_assignment(db.session, None, None) == NO_DEPARTMENT
        for forged in ("999", "-1", "abc", "1 OR 1=1", "9" * 30):
            with pytest.raises(DepartmentError, match="no department") as refused:
                read_assignment(db.session, forged, "sender")
            assert list(refused.value.errors) == ["department_id"]
        with pytest.raises(DepartmentError, match="unknown role 'admin'") as refused:
            read_assignment(db.session, "999", "admin")
        assert list(refused.value.errors) == ["department_id", "role"]


def test_moving_a_user_keeps_their_past_messages_where_they_were_sent(app, make):
    finance, clinic = make.department("Finance"), make.department("Clinic")
    ann = make.user("ann", department=finance)
    before = make.message(ann)
    with app.app_context():
        user = db.session.get(User, ann.id)
        assert assign(db.session, user, Assignment(clinic.id, "approver"))
        assert not assign(db.session, user, Assignment(clinic.id, "approver"))
    after = make.message(ann)
    with app.app_context():
        sent_from = dict(db.session.execute(select(Message.id, Message.department_id)).all())
        assert sent_from == {before: finance.id, after: clinic.id}
        target = f"user:{ann.id} ann"
        assert events("user.department") == [
            (
                target,
                f"department:{finance.id} Finance -> department:{clinic.id} Clinic; "
                "past messages stay where they were sent from",
            )
        ]
        assert events("user.role") == [(target, "sender -> approver")]
        assert "department:" in events("user.create")[0][1]


def test_a_viewer_cannot_send_and_nothing_is_stored(app, make):
    viewer = make.user("watcher", department=make.department(), role="viewer")
    with app.app_context():
        assert not sender_standing(db.session, viewer.id).may_send
        with pytest.raises(NotAllowedToSend, match="viewer"):
            accept_send(db.session, viewer.id, ["61234567"], "Notice", None)
        assert db.session.scalar(select(func.count(Message.id))) == 0


def test_only_viewers_may_not_send():
    assert [role for role in ("sender", "approver", "viewer") if may_send(role)] == [
        "sender",
        "approver",
    ]


class Reader:
    def __init__(self, id, role="sender", department_id=None, is_admin=False):
        self.id, self.role, self.department_id, self.is_admin = id, role, department_id, is_admin


@pytest.mark.parametrize(
    ("reader", "allowed"),
    [
        (Reader(1, "sender", 7), True),  # the sender
        (Reader(1, "approver", 8), True),  # the sender, since moved
        (Reader(2, "approver", 7), True),  # an approver of the department sent from
        (Reader(2, "sender", 7), False),  # a colleague
        (Reader(2, "approver", 8), False),  # an approver of another department
        (Reader(9, "sender", None, is_admin=True), True),
        (Reader(1, "viewer", 7), False),  # a viewer never, not even their own
        (Reader(2, "viewer", 7), False),
    ],
)
def test_who_may_cancel_a_departments_message(reader, allowed):
    message = Message(user_id=1, department_id=7)
    assert may_cancel(message, reader) is allowed
