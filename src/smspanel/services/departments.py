"""Departments and roles: who a sender answers to, read once per send; the departments
admins keep, who is in them with which role, and what each role may do.

A user without a department sends and sees only their own messages, as before. In a
department, a `sender` sends and sees the department's messages, an `approver` also
approves its large sends (services/approvals.py), and a `viewer` only reads. Every role
rule lives here: `may_send`, `may_cancel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smspanel.models import Department, Message, MessageStatus, Role, User, utcnow
from smspanel.services import audit
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

ROLES = tuple(Role)
MAX_NAME_LENGTH = 100
MAX_APPROVAL_THRESHOLD = 2_147_483_647  # the column's integer range; beyond any send
MAX_MONTHLY_SEGMENT_QUOTA = 1_000_000_000_000


class NotAllowed(PermissionError):
    """A role's refusal: answered 403 (`FORBIDDEN` over the API) with its message."""


class NotAllowedToSend(NotAllowed):
    """A viewer may read their department's messages but never send."""

    def __init__(self) -> None:
        super().__init__(_("Your role is viewer: you can read messages but not send them."))


class DepartmentError(ValueError):
    """A department or assignment request that cannot be carried out: what is wrong with
    each form field at fault (`errors`, by field name). Nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


def role_label(role: str) -> str:
    """A role as people read it."""
    labels: dict[str, str] = {
        Role.SENDER: _("Sender"),
        Role.APPROVER: _("Approver"),
        Role.VIEWER: _("Viewer"),
    }
    return labels.get(role, role)


def may_send(role: str) -> bool:
    """Whether a role sends (and changes templates and opt-outs): every role but viewer."""
    return role != Role.VIEWER


class Reader(Protocol):
    """Someone acting on messages: a web user or an API token's holder alike."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def department_id(self) -> int | None: ...
    @property
    def is_admin(self) -> bool: ...


def may_cancel(message: Message, reader: Reader) -> bool:
    """Who may cancel a message they can see: its sender, an approver of the department it
    was sent from, and admins; a viewer never, not even their own earlier sends. A send
    awaiting approval only its sender may withdraw: the others decide on it, and a refusal
    is a rejection, with its reason and its decider on record."""
    if not may_send(reader.role):
        return False
    if message.user_id == reader.id:
        return True
    return _oversees(message, reader) and message.status != MessageStatus.AWAITING_APPROVAL


def _oversees(message: Message, reader: Reader) -> bool:
    return reader.is_admin or (
        reader.role == Role.APPROVER
        and reader.department_id is not None
        and message.department_id == reader.department_id
    )


class NotAllowedToCancel(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            _(
                "Only its sender, an approver of its department or an administrator can "
                "cancel this message."
            )
        )


class WaitingForApproval(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            _(
                "This send is waiting for approval: only its sender can withdraw it. "
                "To stop it, reject it with a reason on the approvals page."
            )
        )


def check_may_cancel(message: Message, reader: Reader) -> None:
    if may_cancel(message, reader):
        return
    if may_send(reader.role) and _oversees(message, reader):  # awaiting approval
        raise WaitingForApproval()
    raise NotAllowedToCancel()


@dataclass(frozen=True)
class SenderStanding:
    """What a send needs to know about its sender: their department's rules and their role."""

    user_id: int | None
    role: str = Role.SENDER
    department_id: int | None = None
    approval_threshold: int = 0  # 0: never
    monthly_segment_quota: int = 0  # 0: none

    @property
    def may_send(self) -> bool:
        return may_send(self.role)


NO_SENDER = SenderStanding(user_id=None)  # a send by the system (tests, commands)


def sender_standing(session: Session, user_id: int | None) -> SenderStanding:
    """One indexed read: the sender's role and their department's threshold and quota."""
    if user_id is None:
        return NO_SENDER
    row = session.execute(
        select(
            User.role,
            User.department_id,
            Department.approval_threshold,
            Department.monthly_segment_quota,
        )
        .outerjoin(Department, Department.id == User.department_id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None:
        return SenderStanding(user_id=user_id)
    return SenderStanding(
        user_id=user_id,
        role=row.role,
        department_id=row.department_id,
        approval_threshold=row.approval_threshold or 0,
        monthly_segment_quota=row.monthly_segment_quota or 0,
    )


# --- departments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentRow:
    department: Department
    member_count: int


def describe(department: Department | None) -> str:
    """How an audit record names a department."""
    return (
        "no department" if department is None else f"department:{department.id} {department.name}"
    )


def list_departments(session: Session) -> list[DepartmentRow]:
    """Every department by name, with how many users are in it (an office has tens)."""
    members = (
        select(User.department_id, func.count(User.id).label("members"))
        .where(User.department_id.is_not(None))
        .group_by(User.department_id)
        .subquery()
    )
    rows = session.execute(
        select(Department, func.coalesce(members.c.members, 0))
        .outerjoin(members, members.c.department_id == Department.id)
        .order_by(func.lower(Department.name), Department.id)
    ).all()
    return [DepartmentRow(department, int(count)) for department, count in rows]


def find_department(session: Session, department_id: int) -> Department | None:
    return session.get(Department, department_id)


def members(session: Session, department_id: int) -> list[User]:
    """The department's users by name."""
    return list(
        session.scalars(
            select(User)
            .where(User.department_id == department_id)
            .order_by(func.lower(User.username))
        )
    )


def _check_name(session: Session, name: str) -> str:
    name = name.strip()
    if not name:
        raise DepartmentError({"name": _("enter a name for the department")})
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise DepartmentError(
            {
                "name": _(
                    "a department's name is at most %(num)s characters on one line",
                    num=MAX_NAME_LENGTH,
                )
            }
        )
    taken = select(Department.id).where(func.lower(Department.name) == name.lower())
    if session.scalar(taken) is not None:
        raise _name_taken(name)
    return name


def _name_taken(name: str) -> DepartmentError:
    return DepartmentError(
        {"name": _("there is already a department called %(name)s", name=repr(name))}
    )


def create_department(session: Session, name: str) -> Department:
    """A new department with no quota and no approvals; a name already used (in any case)
    is refused."""
    try:
        with transaction(session, write=True):
            name = _check_name(session, name)
            department = Department(
                name=name, monthly_segment_quota=0, approval_threshold=0, created_at=utcnow()
            )
            session.add(department)
            session.flush()
            audit.record(session, "department.create", describe(department))
    except IntegrityError:  # the same name, created meanwhile
        raise _name_taken(name.strip()) from None
    return department


def read_limit(field: str, text: str | int | None) -> int:
    """A form's quota or threshold: a whole number, 0 or more (0 = none or never)."""
    maximum = MAX_APPROVAL_THRESHOLD if field == "approval_threshold" else MAX_MONTHLY_SEGMENT_QUOTA
    value = str(text if text is not None else "").strip().replace(",", "")
    if not value:
        raise DepartmentError({field: _("enter a number (0 for none)")})
    if not value.isascii() or not value.isdigit():
        raise DepartmentError({field: _("enter a whole number, 0 or more (0 for none)")})
    number = int(value)
    if number > maximum:
        raise DepartmentError(
            {field: _("enter a number no larger than %(num)s", num=f"{maximum:,}")}
        )
    return number


def update_limits(
    session: Session,
    department: Department,
    monthly_segment_quota: str | int | None,
    approval_threshold: str | int | None,
) -> Department:
    """Set the department's monthly segment quota and approval threshold, both or neither:
    a problem with either refuses both (DepartmentError names each field at fault)."""
    errors: dict[str, str] = {}
    values: dict[str, int] = {}
    for field, text in (
        ("monthly_segment_quota", monthly_segment_quota),
        ("approval_threshold", approval_threshold),
    ):
        try:
            values[field] = read_limit(field, text)
        except DepartmentError as exc:
            errors.update(exc.errors)
    if errors:
        raise DepartmentError(errors)
    with transaction(session, write=True):
        changes = [
            f"{field} {getattr(department, field)} -> {value}"
            for field, value in values.items()
            if getattr(department, field) != value
        ]
        for field, value in values.items():
            setattr(department, field, value)
        if changes:
            audit.record(session, "department.update", describe(department), "; ".join(changes))
    return department


# --- users' departments and roles -------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """A user's department (None: none) and role, as checked from a form."""

    department_id: int | None = None
    role: str = Role.SENDER


NO_DEPARTMENT = Assignment()


def read_assignment(
    session: Session, department_id: str | int | None, role: str | None
) -> Assignment:
    """A form's `department_id` (empty: no department) and `role` (empty: sender); an id
    that names no department, or an unknown role, is a DepartmentError naming the field."""
    errors: dict[str, str] = {}
    chosen: int | None = None
    text = str(department_id if department_id is not None else "").strip()
    if text:
        if text.isascii() and text.isdigit() and len(text) < 10:
            chosen = session.scalar(select(Department.id).where(Department.id == int(text)))
        if chosen is None:
            errors["department_id"] = _("there is no department %(id)s", id=repr(text[:40]))
    role_text = (role or "").strip() or Role.SENDER
    if role_text not in ROLES:
        errors["role"] = _(
            "unknown role %(role)s: choose sender, approver or viewer", role=repr(role_text[:40])
        )
    if errors:
        raise DepartmentError(errors)
    return Assignment(chosen, role_text)


def describe_assignment(session: Session, assignment: Assignment) -> str:
    department = (
        None
        if assignment.department_id is None
        else session.get(Department, assignment.department_id)
    )
    return f"{describe(department)}, role {assignment.role}"


def assign(session: Session, user: User, assignment: Assignment) -> bool:
    """Put `user` in a department with a role; audited, each change its own record. Their
    past messages stay with the department they were sent from. False if nothing changed."""
    with transaction(session, write=True):
        changed = False
        if user.department_id != assignment.department_id:
            before = describe(user.department)
            after = describe(
                None
                if assignment.department_id is None
                else session.get(Department, assignment.department_id)
            )
            user.department_id = assignment.department_id
            audit.record(
                session,
                "user.department",
                audit.describe(user),
                f"{before} -> {after}; past messages stay where they were sent from",
            )
            changed = True
        if user.role != assignment.role:
            audit.record(
                session, "user.role", audit.describe(user), f"{user.role} -> {assignment.role}"
            )
            user.role = assignment.role
            changed = True
        if changed:
            session.flush()
            session.expire(user, ["department"])
    return changed
