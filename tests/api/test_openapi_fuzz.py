"""Generated requests against every documented operation: the API answers as its document says.

Schemathesis builds requests from /api/openapi.json, valid ones and (where an operation takes
input) invalid ones, and checks every answer: never a 5xx, only documented status codes, the
documented content type, a body that matches its schema. Each operation gets a fresh app (the
`app` fixture) and a user with a token and messages 1 to 3, so reads find something too.
Generation is derandomized, so a run is repeatable and never flaky.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from smspanel.api import bp
from smspanel.api.docs import build_document
from smspanel.models import db
from smspanel.services.templates import create_template

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25


def takes_input(operation: dict[str, Any]) -> bool:
    """Whether there is anything to get wrong: parameters, a body or a token."""
    return any(key in operation for key in ("parameters", "requestBody", "security"))


def documented_paths() -> dict[str, Any]:
    """The document's paths, from the API blueprint alone: tests are chosen before any app."""
    bare = Flask(__name__)
    bare.register_blueprint(bp)
    return build_document(bare)["paths"]


RUNS = [
    pytest.param(path, method.upper(), mode, id=f"{method.upper()} {path} {mode.value}")
    for path, methods in documented_paths().items()
    for method, operation in methods.items()
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE or takes_input(operation)
]


@pytest.fixture
def bearer(app, make) -> dict[str, str]:
    """A user with three messages (ids 1 to 3 on SQLite) and a template (id 1), and the header
    for calls as them. An administrator, so the admins' routes (the opt-out register) are
    exercised beyond their 403."""
    user = make.user("fuzzer", is_admin=True)
    for content in ("Road closed", "明日停水", "Meeting at 10:00"):
        make.message(user, ["1234 5678", "9876 5432"], content)
    with app.app_context():
        create_template(db.session, user.id, "Reminder", "Dear ((name)), see you at ((time))")
    return make.auth(user)


@pytest.mark.parametrize(("path", "method", "mode"), RUNS)
def test_every_operation_answers_as_documented(app, bearer, path, method, mode):
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app)[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def answers_as_documented(case):
        # Negative cases may drop the token on purpose, to see the documented 401.
        case.call_and_validate(headers=bearer, checks=CHECKS)

    answers_as_documented()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/sms?page=9223372036854775807", 400),
        ("/api/sms/{own}/recipients?page=99999999999999999999", 400),
        ("/api/sms/9223372036854775808", 404),
        ("/api/sms/99999999999999999999999/recipients", 404),
    ],
)
def test_numbers_too_large_for_the_database_are_refused_not_a_server_error(
    client, make, path, status
):
    """Once 500s (integer overflow in SQL), found by the fuzzing above."""
    user = make.user("overflow")
    own = make.message(user)
    assert client.get(path.format(own=own), headers=make.auth(user)).status_code == status
