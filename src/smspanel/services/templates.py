"""Templates: reusable texts with `((placeholders))`, shared by everyone who can send."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from smspanel.models import Template


def find_template(session: Session, template_id: int) -> Template | None:
    return session.get(Template, template_id)


def list_templates(session: Session) -> list[Template]:
    """Every template, by name."""
    return list(session.scalars(select(Template).order_by(Template.name, Template.id)))
