"""Templates over the API: shared by every user, so any caller with a token may manage them."""

from __future__ import annotations

from flask import current_app

from smspanel.api.auth import current_api_user, sender_token_required, token_required
from smspanel.api.blueprint import bp
from smspanel.api.operations import PathId, operation
from smspanel.api.schemas import (
    TemplateList,
    TemplateOut,
    TemplateRequest,
    parse_body,
    respond,
)
from smspanel.errors import ApiError
from smspanel.hktime import format_hkt, to_hkt
from smspanel.models import Template, db
from smspanel.services.placeholders import placeholders
from smspanel.services.templates import (
    DuplicateName,
    InvalidTemplate,
    TemplateInUse,
    TemplateNotFound,
    create_template,
    delete_template,
    find_template,
    list_templates,
    update_template,
)

TEMPLATE_ID = PathId("template_id")


def template_out(template: Template) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        content=template.content,
        placeholders=placeholders(template.content),
        created_at=to_hkt(template.created_at),
        updated_at=to_hkt(template.updated_at),
    )


def refusal(exc: InvalidTemplate) -> ApiError:
    """400 VALIDATION_ERROR, or 409 DUPLICATE_NAME when the name's clash is all that is wrong."""
    details = [
        {"field": field, "message": message}
        for field, messages in exc.errors.items()
        for message in messages
    ]
    if isinstance(exc, DuplicateName):
        return ApiError(409, "DUPLICATE_NAME", str(exc), details)
    return ApiError(400, "VALIDATION_ERROR", str(exc), details)


def not_found(template_id: int) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"no template {template_id}")


@bp.get("/templates")
@token_required
@operation(
    "List every template, by name",
    responds=(200, TemplateList, "The templates"),
    errors=(401, 503),
)
def list_all():
    """Every template (they are shared by all users), by name ignoring case."""
    templates = [template_out(t) for t in list_templates(db.session)]
    return respond(TemplateList(templates=templates), f"{len(templates)} template(s)")


@bp.post("/templates")
@sender_token_required
@operation(
    "Create a template",
    body=TemplateRequest,
    responds=(201, TemplateOut, "Created"),
    errors=(400, 401, 403, 409, 413, 503),
)
def create():
    """Placeholders are written `((name))`; a name already used (ignoring case) is a 409
    `DUPLICATE_NAME`."""
    body = parse_body(TemplateRequest)
    try:
        template = create_template(db.session, current_api_user().id, body.name, body.content)
    except InvalidTemplate as exc:
        raise refusal(exc) from None
    return respond(template_out(template), f"template {template.name!r} created", 201)


@bp.get("/templates/<int:template_id>")
@token_required
@operation(
    "One template",
    path=(TEMPLATE_ID,),
    responds=(200, TemplateOut, "The template"),
    errors=(401, 404, 503),
)
def get_one(template_id: int):
    """One template, with the placeholders it needs."""
    template = find_template(db.session, template_id)
    if template is None:
        raise not_found(template_id)
    return respond(template_out(template))


@bp.put("/templates/<int:template_id>")
@sender_token_required
@operation(
    "Change a template's name and content",
    path=(TEMPLATE_ID,),
    body=TemplateRequest,
    responds=(200, TemplateOut, "Changed"),
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def update(template_id: int):
    """Both fields, checked as on create. Messages already made from the template keep the
    texts they were given."""
    body = parse_body(TemplateRequest)
    try:
        template = update_template(db.session, template_id, body.name, body.content)
    except TemplateNotFound:
        raise not_found(template_id) from None
    except InvalidTemplate as exc:
        raise refusal(exc) from None
    return respond(template_out(template), f"template {template.name!r} saved")


@bp.delete("/templates/<int:template_id>")
@sender_token_required
@operation(
    "Delete a template",
    path=(TEMPLATE_ID,),
    responds=(204, None, "Deleted"),
    errors=(401, 403, 404, 409, 503),
)
def delete(template_id: int):
    """Refused with 409 `TEMPLATE_IN_USE` while a scheduled message was made from it
    (`details` lists them); sent messages keep their record."""
    try:
        delete_template(db.session, template_id)
    except TemplateNotFound:
        raise not_found(template_id) from None
    except TemplateInUse as exc:
        details = [
            {
                "field": "template_id",
                "message": f"message {use.message_id} is scheduled for "
                f"{format_hkt(use.scheduled_at)}",
                "value": {
                    "message_id": use.message_id,
                    "scheduled_at": to_hkt(use.scheduled_at).isoformat()
                    if use.scheduled_at
                    else None,
                },
            }
            for use in exc.uses
        ]
        raise ApiError(409, "TEMPLATE_IN_USE", str(exc), details) from None
    deleted = current_app.response_class(status=204)
    del deleted.headers["Content-Type"]  # no content, so no type either
    return deleted
