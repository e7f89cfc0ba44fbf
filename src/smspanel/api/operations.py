"""Each API route declares, where it is defined, what it takes and what it answers.

Like `access_rule`, `@operation` only marks the view; docs.py walks the URL map and builds
/api/openapi.json from these marks alone, so the document cannot drift from the routes.
Query parameters are declared as objects that also read themselves from the request, so a
default or a limit is written once for the route and its document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from smspanel.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])

# What each error status means, for every route that declares it.
ERROR_DESCRIPTIONS = {
    400: "Invalid input; `details` names each bad field (VALIDATION_ERROR, INVALID_JSON, "
    "INVALID_RECIPIENTS, MISSING_PERSONALISATION), or NO_DELIVERABLE_RECIPIENTS: every number "
    "would be skipped (`details` gives each number and its reason); nothing was stored",
    401: "Missing, invalid, revoked or expired token",
    403: "Not allowed for this token's user: `code` FORBIDDEN (an administrators' route, a "
    "viewer's send or change, a cancel of a colleague's message by a non-approver, or an "
    "approval the user may not give: not an approver, or their own send), or "
    "QUOTA_EXCEEDED: the send would take the department past its monthly segment quota "
    "(`details`: `used`, `quota`, `needed`); nothing was stored",
    404: "No such message (among the caller's), template, number on the opt-out register, "
    "webhook (the caller has none set) or webhook delivery (among the caller's)",
    409: "Conflicts with the current state: `code` says which (e.g. NOT_CANCELLABLE, "
    "NOT_AWAITING_APPROVAL, DUPLICATE_NAME, TEMPLATE_IN_USE, IDEMPOTENCY_IN_PROGRESS: a "
    "request with the same `Idempotency-Key` is still being stored; retry after `Retry-After` "
    "seconds)",
    413: "Request body too large",
    422: "IDEMPOTENCY_KEY_REUSED: the `Idempotency-Key` was used within 24 h for a different "
    "request; nothing was stored",
    429: "Too many failed logins for this account or address; wait `Retry-After` seconds",
    503: "Database unavailable",
}
# Larger numbers are refused even where a parameter is capped: they never reach SQL.
LARGEST_ACCEPTED = 2**31


def _invalid(name: str, problem: str, summary: str | None = None) -> ApiError:
    return ApiError(
        400,
        "VALIDATION_ERROR",
        summary or f"{name} {problem}",
        [{"field": name, "message": problem}],
    )


@dataclass(frozen=True)
class QueryInt:
    """A whole-number query parameter, at least 1: how it is documented and how it is read.

    Above `maximum` is a 400; above `cap` is quietly lowered to the cap.
    """

    name: str
    default: int
    maximum: int | None = None
    cap: int | None = None

    def read(self) -> int:
        raw = request.args.get(self.name)
        if raw is None or raw == "":
            return self.default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid(
                self.name,
                "must be a whole number",
                f"{self.name} must be a whole number, got {raw!r}",
            ) from None
        maximum = LARGEST_ACCEPTED if self.maximum is None else self.maximum
        if value > maximum:
            raise _invalid(self.name, f"must be at most {maximum}")
        if value < 1:
            raise _invalid(self.name, "must be at least 1")
        return value if self.cap is None else min(value, self.cap)

    def parameter(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "minimum": 1}
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        schema["default"] = self.default
        described = {"description": f"capped at {self.cap}"} if self.cap is not None else {}
        return {"name": self.name, "in": "query", "schema": schema, **described}


@dataclass(frozen=True)
class QueryText:
    """A text query parameter, blanks trimmed; longer than `max_length` is a 400."""

    name: str
    max_length: int
    description: str = ""

    def read(self) -> str:
        value = request.args.get(self.name, "").strip()
        if len(value) > self.max_length:
            raise _invalid(self.name, f"must be at most {self.max_length} characters")
        return value

    def parameter(self) -> dict[str, Any]:
        schema = {"type": "string", "maxLength": self.max_length}
        described = {"description": self.description} if self.description else {}
        return {"name": self.name, "in": "query", "schema": schema, **described}


@dataclass(frozen=True)
class HeaderText:
    """An optional request header, and the headers its answers may carry."""

    name: str
    max_length: int
    description: str = ""
    answer_headers: dict[str, str] = field(default_factory=dict)

    def parameter(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": "header",
            "required": False,
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": self.max_length,
                "pattern": "^[ -~]+$",
            },
            "description": self.description,
        }


@dataclass(frozen=True)
class PathText:
    """A text in the path (the URL rule's default converter: anything but a slash)."""

    name: str
    max_length: int
    description: str = ""

    def parameter(self) -> dict[str, Any]:
        described = {"description": self.description} if self.description else {}
        return {
            "name": self.name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": self.max_length},
            **described,
        }


@dataclass(frozen=True)
class PathId:
    """A database id in the path; the URL rule (`<int:name>`) already refuses anything else."""

    name: str

    def parameter(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }


@dataclass(frozen=True)
class CsvFile:
    """A success answer that is a CSV file, not the JSON envelope: documented by its columns."""

    columns: tuple[str, ...]

    def header_line(self) -> str:
        return ",".join(self.columns) + "\r\n"


# The status, then the `data` in the envelope (or a CsvFile, or None for no body, as a 204),
# then what the answer means.
Answer = tuple[int, type[BaseModel] | CsvFile | None, str]


@dataclass(frozen=True)
class Operation:
    summary: str
    responds: Answer
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    query: tuple[QueryInt | QueryText, ...] = ()
    path: tuple[PathId | PathText, ...] = ()
    headers: tuple[HeaderText, ...] = ()


def operation(
    summary: str,
    *,
    responds: Answer,
    body: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    query: tuple[QueryInt | QueryText, ...] = (),
    path: tuple[PathId | PathText, ...] = (),
    headers: tuple[HeaderText, ...] = (),
) -> Callable[[View], View]:
    """Declare a route's operation for the document; an undescribed error status is refused."""
    unknown = [status for status in errors if status not in ERROR_DESCRIPTIONS]
    if unknown:
        raise ValueError(f"no description for error status {unknown} in ERROR_DESCRIPTIONS")
    declared = Operation(
        summary, responds, body, tuple(errors), tuple(query), tuple(path), tuple(headers)
    )

    def mark(view: View) -> View:
        view.operation = declared  # type: ignore[attr-defined]
        return view

    return mark


def undocumented(view: View) -> View:
    """For the routes that serve the document itself: they are not operations of the API."""
    view.operation = None  # type: ignore[attr-defined]
    return view


def operation_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, "operation", None)


def is_declared(view: Callable[..., Any]) -> bool:
    """Whether the view says what it is: an operation, or explicitly undocumented."""
    return hasattr(view, "operation")
