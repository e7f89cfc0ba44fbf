"""Templates: reusable texts with `((placeholders))`, shared by everyone who can send."""

from __future__ import annotations

from sqlalchemy.orm import Session

from smspanel.models import Template


def find_template(session: Session, template_id: int) -> Template | None:
    return session.get(Template, template_id)
