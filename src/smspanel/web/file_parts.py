"""File parts only where a form takes a file: elsewhere a multipart body's file part in place
of a text field is refused with a 400 naming the field (WTForms would hand the view a
FileStorage where it expects text, and the view would fail with a 500).

Every web form post is checked before its view runs. The views that take a file read their
body themselves, under their own size limit (web/uploads.py), so they are marked with
`accepts_files(...)` and call `check_file_parts()` once they have read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

View = TypeVar("View", bound=Callable[..., Any])
ACCEPTED_FILES = "accepted_file_fields"
READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


class UnexpectedFilePart(BadRequest):
    """A file part where the form takes text (or takes nothing of that name)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the field {field!r} takes text, not a file")
        self.field = field


def accepts_files(*names: str) -> Callable[[View], View]:
    """Mark a view whose form has file fields `names`; it calls check_file_parts itself."""

    def mark(view: View) -> View:
        setattr(view, ACCEPTED_FILES, frozenset(names))
        return view

    return mark


def check_file_parts() -> None:
    """Refuse a file part the view's form does not declare as a file field."""
    view = current_app.view_functions.get(request.endpoint or "")
    accepted: frozenset[str] = getattr(view, ACCEPTED_FILES, frozenset())
    for name in request.files:
        if name not in accepted:
            raise UnexpectedFilePart(name[:100])


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_unexpected_file_parts() -> None:
        if request.method in READ_ONLY_METHODS or request.blueprint == "api":
            return
        if request.mimetype != "multipart/form-data":
            return
        view = app.view_functions.get(request.endpoint or "")
        if view is None or hasattr(view, ACCEPTED_FILES):
            return  # no such page (404 follows), or the view checks after reading its body
        check_file_parts()

    @app.errorhandler(UnexpectedFilePart)
    def file_part_refused(exc: UnexpectedFilePart) -> tuple[str, int]:
        page = render_template(
            "error.html",
            title=_("A file was not expected"),
            message=_(
                "The field %(field)s takes text, not a file, so nothing was changed. Go back "
                "and fill in the form again.",
                field=exc.field,
            ),
        )
        return page, 400
