"""The OpenAPI document, generated from each API route's `@operation` and its schemas.

The document walks the app's URL map: every route of the api blueprint is in it, or says
it is `@undocumented`; a route that says neither stops the document from being built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import Rule

from smspanel.api.blueprint import bp
from smspanel.api.operations import (
    ERROR_DESCRIPTIONS,
    CsvFile,
    Operation,
    is_declared,
    operation_of,
    undocumented,
)
from smspanel.api.schemas import Envelope, ErrorEnvelope
from smspanel.authz import TOKEN, TOKEN_SEND, public, rule_of

REF = "#/components/schemas/{model}"
INFO = {
    "title": "smspanel API",
    "version": "1.0",
    "description": "Send SMS through the 1010/HKT gateway and track every recipient. "
    "Times are ISO 8601 in Hong Kong time (+08:00).",
}
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer"}}
PATH_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")  # <int:message_id> -> {message_id}


class UndeclaredRoute(LookupError):
    """An API route whose declaration is missing or does not match its URL rule."""


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__.replace("[", "_").replace("]", "_"))}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _csv(answer: CsvFile, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Content-Disposition": {
                "description": "attachment, with the file's name",
                "schema": {"type": "string"},
            }
        },
        "content": {"text/csv": {"schema": {"type": "string"}, "example": answer.header_line()}},
    }


def _api_rules(app: Flask) -> Iterator[Rule]:
    """The api blueprint's rules, in the order they were registered."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(f"{bp.name}."):
            yield rule


def _declared(app: Flask, rule: Rule) -> Operation | None:
    """The rule's operation (None: undocumented), checked against the rule's arguments."""
    view = app.view_functions[rule.endpoint]
    if not is_declared(view):
        raise UndeclaredRoute(
            f"{rule.endpoint} ({rule.rule}) declares no @operation (or @undocumented)"
        )
    declared = operation_of(view)
    if declared is not None and {p.name for p in declared.path} != set(rule.arguments):
        raise UndeclaredRoute(
            f"{rule.endpoint} ({rule.rule}) declares path parameters "
            f"{sorted(p.name for p in declared.path)}, its rule has {sorted(rule.arguments)}"
        )
    return declared


def _envelope(declared: Operation) -> type[BaseModel]:
    """The success answer: the declared `data` in the envelope `respond` wraps it in."""
    return Envelope[declared.responds[1]]  # type: ignore[name-defined]


def _describe(declared: Operation, secured: bool) -> dict[str, Any]:
    status, answer, meaning = declared.responds
    described: dict[str, Any] = {"summary": declared.summary}
    if secured:
        described["security"] = [{"bearer": []}]
    parameters = [
        *(p.parameter() for p in declared.path),
        *(q.parameter() for q in declared.query),
        *(h.parameter() for h in declared.headers),
    ]
    if parameters:
        described["parameters"] = parameters
    if declared.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(declared.body)}},
        }
    if isinstance(answer, CsvFile):
        success = _csv(answer, meaning)
    elif answer is None:
        success = {"description": meaning}  # no content, as a 204
    else:
        success = _json(_envelope(declared), meaning)
    answer_headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for header in declared.headers
        for name, text in header.answer_headers.items()
    }
    if answer_headers:
        success["headers"] = {**success.get("headers", {}), **answer_headers}
    described["responses"] = {
        str(status): success,
        **{str(s): _json(ErrorEnvelope, ERROR_DESCRIPTIONS[s]) for s in declared.errors},
    }
    return described


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s API routes, from their declarations alone."""
    paths: dict[str, dict[str, Any]] = {}
    models: dict[type[BaseModel], JsonSchemaMode] = {}
    for rule in _api_rules(app):
        declared = _declared(app, rule)
        if declared is None:
            continue
        secured = rule_of(app.view_functions[rule.endpoint]) in (TOKEN, TOKEN_SEND)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = PATH_ARGUMENT.sub(r"{\1}", rule.rule)
            paths.setdefault(path, {})[method.lower()] = _describe(declared, secured)
        if declared.body is not None:
            models[declared.body] = "validation"
        if declared.responds[1] is not None and not isinstance(declared.responds[1], CsvFile):
            models[_envelope(declared)] = "serialization"
        if declared.errors:
            models[ErrorEnvelope] = "serialization"
    _, schema = models_json_schema(list(models.items()), ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "paths": paths,
        "components": {"schemas": schema.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }


def openapi_document(app: Flask) -> dict[str, Any]:
    """`app`'s document, built on first use: the routes do not change while it runs."""
    if "openapi_document" not in app.extensions:
        app.extensions["openapi_document"] = build_document(app)
    return app.extensions["openapi_document"]


@bp.get("/openapi.json")
@public
@undocumented
def openapi_json():
    """The API's OpenAPI 3 description."""
    return jsonify(openapi_document(current_app))


@bp.get("/docs")
@public
@undocumented
def docs_page():
    """A readable page rendered from the OpenAPI document."""
    return render_template("api_docs.html", spec=openapi_document(current_app))
