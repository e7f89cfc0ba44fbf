"""The OpenAPI document, generated from the same schemas that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import jsonify, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from smspanel.api import bp
from smspanel.api.operations import undocumented
from smspanel.api.schemas import (
    BulkSendRequest,
    Envelope,
    ErrorEnvelope,
    HealthData,
    LoginData,
    LoginRequest,
    MessageDetail,
    MessagePage,
    RecipientList,
    SendAccepted,
    SendRequest,
)
from smspanel.api.sms import MAX_PAGE
from smspanel.authz import public

REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__.replace("[", "_").replace("]", "_"))}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid input; `details` names each bad field",
        401: "Missing, invalid, revoked or expired token",
        404: "No such message among the caller's",
        413: "Request body too large",
        429: "Too many failed logins for this account or address; wait `Retry-After` seconds",
        503: "Database unavailable",
    }
    return {str(s): _json(ErrorEnvelope, text[s]) for s in statuses}


def _page_params(default: int, maximum: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        },
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "default": default},
            "description": f"capped at {maximum}",
        },
    ]


def _id_param() -> dict[str, Any]:
    return {
        "name": "message_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }


@cache
def openapi_document() -> dict[str, Any]:
    envelopes = {
        m: Envelope[m]  # type: ignore[valid-type]
        for m in (LoginData, SendAccepted, MessagePage, MessageDetail, RecipientList, HealthData)
    }
    models: list[type[BaseModel]] = [
        LoginRequest,
        SendRequest,
        BulkSendRequest,
        ErrorEnvelope,
        *envelopes.values(),
    ]
    _, schema = models_json_schema(
        [
            (
                m,
                "validation"
                if m in (LoginRequest, SendRequest, BulkSendRequest)
                else "serialization",
            )
            for m in models
        ],
        ref_template=REF,
    )
    components = schema.get("$defs", {})
    secured = [{"bearer": []}]

    def body(model: type[BaseModel]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}

    paths = {
        "/api/auth/login": {
            "post": {
                "summary": "Exchange username and password for a bearer token",
                "requestBody": body(LoginRequest),
                "responses": {
                    "200": _json(envelopes[LoginData], "Logged in"),
                    **_errors(400, 401, 413, 429, 503),
                },
            }
        },
        "/api/sms": {
            "post": {
                "summary": "Queue one SMS to one number",
                "security": secured,
                "requestBody": body(SendRequest),
                "responses": {
                    "202": _json(envelopes[SendAccepted], "Queued"),
                    **_errors(400, 401, 413, 503),
                },
            },
            "get": {
                "summary": "List the caller's messages, newest first",
                "security": secured,
                "parameters": _page_params(20, 100),
                "responses": {
                    "200": _json(envelopes[MessagePage], "A page of messages"),
                    **_errors(400, 401, 503),
                },
            },
        },
        "/api/sms/send-bulk": {
            "post": {
                "summary": "Queue one SMS to many numbers",
                "security": secured,
                "requestBody": body(BulkSendRequest),
                "responses": {
                    "202": _json(envelopes[SendAccepted], "Queued"),
                    **_errors(400, 401, 413, 503),
                },
            }
        },
        "/api/sms/{message_id}": {
            "get": {
                "summary": "One message with its delivery counts",
                "security": secured,
                "parameters": [_id_param()],
                "responses": {
                    "200": _json(envelopes[MessageDetail], "The message"),
                    **_errors(401, 404, 503),
                },
            }
        },
        "/api/sms/{message_id}/recipients": {
            "get": {
                "summary": "Every recipient of a message and what happened to it",
                "security": secured,
                "parameters": [_id_param(), *_page_params(100, 1000)],
                "responses": {
                    "200": _json(envelopes[RecipientList], "The recipients"),
                    **_errors(400, 401, 404, 503),
                },
            }
        },
        "/api/health": {
            "get": {
                "summary": "Whether the app can reach its database",
                "responses": {
                    "200": _json(envelopes[HealthData], "Healthy"),
                    **_errors(503),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smspanel API",
            "version": "1.0",
            "description": "Send SMS through the 1010/HKT gateway and track every recipient. "
            "Times are ISO 8601 in Hong Kong time (+08:00).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
@public
@undocumented
def openapi_json():
    """The API's OpenAPI 3 description."""
    return jsonify(openapi_document())


@bp.get("/docs")
@public
@undocumented
def docs_page():
    """A readable page rendered from the OpenAPI document."""
    return render_template("api_docs.html", spec=openapi_document())
