"""Templates: reusable texts with `((placeholders))`, shared by everyone who can send.

A template has a name (required, at most 100 characters, unique ignoring case: "Clinic
reminder" and "clinic reminder" would be two entries nobody could tell apart in a list) and
content that could be sent as an SMS as written, with well-formed placeholders. A template
that a scheduled message was made from cannot be deleted; messages already sent keep their
record, without the link (the foreign key is ON DELETE SET NULL). Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smspanel.models import Message, MessageStatus, Template, utcnow
from smspanel.services import audit
from smspanel.services.compose import normalize_line_endings
from smspanel.services.content import InvalidContent, validate_content
from smspanel.services.placeholders import PLACEHOLDER, placeholders
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

MAX_NAME_LENGTH = 100
MAX_PLACEHOLDER_NAME_LENGTH = 50
MAX_PLACEHOLDER_PROBLEMS = 20  # beyond this, one more line says how many
LARGEST_ID = 2**31 - 1  # the id column is a 32-bit integer; PostgreSQL refuses larger values


class TemplateNotFound(LookupError):
    """No template has this id (it may have been deleted meanwhile)."""


class InvalidTemplate(ValueError):
    """Everything wrong with a template's fields, by field name; nothing was stored."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


class DuplicateName(InvalidTemplate):
    """The fields are fine but another template already has the name (ignoring case)."""


@dataclass(frozen=True)
class ScheduledUse:
    message_id: int
    user_id: int | None
    scheduled_at: datetime | None
    department_id: int | None = None  # sent from, for who may open it (ownership.MessageScope)


class TemplateInUse(ValueError):
    """Scheduled messages were made from the template, so it cannot be deleted yet."""

    def __init__(self, template: Template, uses: list[ScheduledUse]) -> None:
        self.uses = uses
        ids = ", ".join(f"#{use.message_id}" for use in uses)
        super().__init__(
            _(
                "template %(name)s is used by %(count)s scheduled message(s) (%(ids)s); "
                "cancel them or wait until they are sent",
                name=repr(template.name),
                count=len(uses),
                ids=ids,
            )
        )


def find_template(session: Session, template_id: int) -> Template | None:
    return _get(session, template_id)


def _get(session: Session, template_id: int, *, for_update: bool = False) -> Template | None:
    """The template, or None also for an id no template could have."""
    if not 0 < template_id <= LARGEST_ID:
        return None
    return session.get(Template, template_id, with_for_update=for_update or None)


def list_templates(session: Session) -> list[Template]:
    """Every template, by name ignoring case (the same order on every database)."""
    templates = session.scalars(select(Template)).all()
    return sorted(templates, key=lambda t: (t.name.casefold(), t.name, t.id))


def placeholder_problems(content: str) -> list[str]:
    """What is wrong with the `((placeholders))` in `content`, each with its position.

    A `((` must open a placeholder closed by `))` on the same line, with a name of at most
    50 characters and no brackets inside; otherwise it would go out to recipients as typed.
    A `(` right before a placeholder is an ordinary bracket: `(((name)))` is fine.
    """
    problems: list[str] = []
    position = content.find("((")
    while position != -1:
        shown = position + 1  # positions as people count them, from 1
        match = PLACEHOLDER.match(content, position)
        if match is None:
            if content.startswith("(((", position):
                position = content.find("((", position + 1)
                continue
            problems.append(
                _(
                    "'((' at position %(position)s has no matching '))': write placeholders as "
                    "((name)), with no brackets inside the name",
                    position=shown,
                )
            )
            end = position + 2
        else:
            name = match.group(1).strip()
            end = match.end()
            if not name:
                problems.append(
                    _(
                        "the placeholder %(placeholder)s at position %(position)s is empty",
                        placeholder=repr(match.group(0)),
                        position=shown,
                    )
                )
            elif "\n" in match.group(1) or "\r" in match.group(1):
                problems.append(
                    _(
                        "the placeholder at position %(position)s spans a line break: "
                        "'((' and its '))' must be on the same line",
                        position=shown,
                    )
                )
            elif len(name) > MAX_PLACEHOLDER_NAME_LENGTH:
                problems.append(
                    _(
                        "the placeholder name %(name)s… at position %(position)s is %(count)s "
                        "characters; the maximum is %(max)s",
                        name=repr(name[:20]),
                        position=shown,
                        count=len(name),
                        max=MAX_PLACEHOLDER_NAME_LENGTH,
                    )
                )
        position = content.find("((", end)
    if len(problems) > MAX_PLACEHOLDER_PROBLEMS:
        extra = len(problems) - MAX_PLACEHOLDER_PROBLEMS
        problems = problems[:MAX_PLACEHOLDER_PROBLEMS]
        problems.append(_("… and %(count)s more placeholder problems", count=extra))
    return problems


def clean_fields(name: str, content: str) -> tuple[str, str]:
    """The name trimmed and the content with LF line breaks; raise InvalidTemplate naming
    every problem of both fields at once."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("name is required")]
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = [
            _(
                "name is %(count)s characters; the maximum is %(max)s",
                count=len(name),
                max=MAX_NAME_LENGTH,
            )
        ]
    elif not name.isprintable():
        errors["name"] = [_("name cannot contain line breaks, tabs or control characters")]
    content = normalize_line_endings(content or "")
    try:
        validate_content(content)
    except InvalidContent as exc:
        errors["content"] = [str(exc)]
    else:
        problems = placeholder_problems(content)
        if problems:
            errors["content"] = problems
    if errors:
        raise InvalidTemplate(errors)
    return name, content


def _name_taken(session: Session, name: str, template_id: int | None) -> str | None:
    """The existing name that `name` clashes with, ignoring case, if any.

    Compared here rather than in SQL: SQLite's lower() folds ASCII only, and templates are
    few. The unique constraint still stops two identical names racing in.
    """
    wanted = name.casefold()
    for other_id, other_name in session.execute(select(Template.id, Template.name)):
        if other_id != template_id and other_name.casefold() == wanted:
            return str(other_name)
    return None


def _duplicate(taken: str) -> DuplicateName:
    return DuplicateName(
        {
            "name": [
                _(
                    "a template named %(name)s already exists (names are compared ignoring case)",
                    name=repr(taken),
                )
            ]
        }
    )


def _check(session: Session, name: str, content: str, template_id: int | None) -> tuple[str, str]:
    """Clean both fields and check the name is free, naming every problem at once."""
    try:
        cleaned = clean_fields(name, content)
    except InvalidTemplate as exc:
        taken = None if "name" in exc.errors else _name_taken(session, name.strip(), template_id)
        if taken is not None:
            raise InvalidTemplate({**_duplicate(taken).errors, **exc.errors}) from None
        raise
    taken = _name_taken(session, cleaned[0], template_id)
    if taken is not None:
        raise _duplicate(taken)
    return cleaned


def describe(template: Template) -> str:
    """How the audit log names a template."""
    return f"template:{template.id} {template.name}"


def create_template(session: Session, user_id: int | None, name: str, content: str) -> Template:
    """Store a new template; raise InvalidTemplate (or DuplicateName) naming what is wrong."""
    try:
        with transaction(session, write=True):
            name, content = _check(session, name, content, None)
            now = utcnow()
            template = Template(
                name=name, content=content, created_by=user_id, created_at=now, updated_at=now
            )
            session.add(template)
            session.flush()
            audit.record(
                session,
                "template.create",
                describe(template),
                f"{len(placeholders(content))} placeholder(s)",
            )
    except IntegrityError:
        raise _duplicate(name) from None  # the same name, committed meanwhile
    return template


def update_template(session: Session, template_id: int, name: str, content: str) -> Template:
    """Change a template's name and content; messages already made from it keep their texts."""
    try:
        with transaction(session, write=True):
            template = _get(session, template_id, for_update=True)
            if template is None:
                raise TemplateNotFound(f"no template {template_id}")
            name, content = _check(session, name, content, template_id)
            changed = [
                f"renamed from {template.name!r}" if name != template.name else "",
                "content changed" if content != template.content else "",
            ]
            template.name, template.content = name, content
            template.updated_at = utcnow()
            session.flush()
            audit.record(
                session,
                "template.update",
                describe(template),
                "; ".join(c for c in changed if c) or "saved unchanged",
            )
    except IntegrityError:
        raise _duplicate(name) from None
    return template


def scheduled_uses(session: Session, template_id: int) -> list[ScheduledUse]:
    """The scheduled messages made from the template, soonest first."""
    rows = session.execute(
        select(Message.id, Message.user_id, Message.scheduled_at, Message.department_id)
        .where(Message.template_id == template_id, Message.status == MessageStatus.SCHEDULED)
        .order_by(Message.scheduled_at, Message.id)
    )
    return [ScheduledUse(row.id, row.user_id, row.scheduled_at, row.department_id) for row in rows]


def delete_template(session: Session, template_id: int) -> str:
    """Delete the template and return its name; refuse (TemplateInUse) while a scheduled
    message was made from it. Sent messages keep their record, without the link."""
    with transaction(session, write=True):
        # The row lock makes a send from this template that is being accepted right now
        # either finish first (and be seen below) or fail on the foreign key after us.
        template = _get(session, template_id, for_update=True)
        if template is None:
            raise TemplateNotFound(f"no template {template_id}")
        uses = scheduled_uses(session, template_id)
        if uses:
            raise TemplateInUse(template, uses)
        name = template.name
        audit.record(session, "template.delete", describe(template))
        session.delete(template)
    return name
