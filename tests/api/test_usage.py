"""Quotas over the API: GET /api/usage, and a send that would pass the department's monthly
quota refused with 403 QUOTA_EXCEEDED and its figures, from each of the three send calls."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, db, utcnow
from smspanel.services.quotas import month_of
from tests.campaign_helpers import make_template
from tests.quota_helpers import usage

TWO_SEGMENTS = "x" * 161


def test_usage_gives_the_departments_month(client, make, alice, headers):
    app = client.application
    schools = make.department("Schools", quota=10)
    make.assign(alice, schools)
    make.message(alice, ["91234567", "61234567"], TWO_SEGMENTS)
    body = client.get("/api/usage", headers=headers).get_json()
    assert body["success"] is True
    assert body["data"] == {
        "month": month_of(utcnow()),
        "segments_used": 4,
        "quota": 10,
        "messages": 1,
        "recipients": 2,
    }
    assert usage(app, schools) == (4, 1, 2)


def test_usage_answers_a_user_without_a_department_with_their_own_month(
    client, make, alice, headers
):
    make.message(alice, ["91234567", "61234567", "28331234"], "Hi")  # the fixed line skipped
    make.message(make.user("bob"), ["91234567"], "Not Alice's")
    data = client.get("/api/usage", headers=headers).get_json()["data"]
    assert data == {
        "month": month_of(utcnow()),
        "segments_used": 2,
        "quota": 0,
        "messages": 1,
        "recipients": 2,
    }


def test_usage_needs_a_token(client):
    assert client.get("/api/usage").status_code == 401


def stored_messages(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sms", {"recipient": "9123 4567", "content": TWO_SEGMENTS}),
        ("/api/sms/send-bulk", {"recipients": ["9123 4567"], "content": TWO_SEGMENTS}),
        (
            "/api/sms/send-template",
            {"recipients": [{"phone": "9123 4567", "personalisation": {"note": TWO_SEGMENTS}}]},
        ),
    ],
    ids=["one", "bulk", "template"],
)
def test_a_send_past_the_quota_is_403_with_the_figures_and_stores_nothing(
    client, make, alice, headers, path, body
):
    app = client.application
    schools = make.department("Schools", quota=5)
    make.assign(alice, schools)
    make.message(alice, ["91234567", "61234567"], TWO_SEGMENTS)  # 4 of 5
    if path.endswith("send-template"):
        with app.app_context():
            body = {**body, "template_id": make_template(db.session, "((note))")}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"] == {"used": 4, "quota": 5, "needed": 2}
    assert "used 4 of its monthly quota of 5" in error["message"]
    assert stored_messages(app) == 1
    assert usage(app, schools) == (4, 1, 2)


def test_a_send_that_fits_exactly_is_accepted(client, make, alice, headers):
    schools = make.department("Schools", quota=2)
    make.assign(alice, schools)
    response = client.post(
        "/api/sms/send-bulk",
        json={"recipients": ["9123 4567", "6123 4567"], "content": "Hi"},
        headers=headers,
    )
    assert response.status_code == 202
    assert usage(client.application, schools) == (2, 1, 2)
    refused = client.post(
        "/api/sms", json={"recipient": "91234567", "content": "Hi"}, headers=headers
    )
    assert refused.get_json()["error"]["details"] == {"used": 2, "quota": 2, "needed": 1}


def test_the_document_describes_usage_and_the_quota_refusal(client):
    spec = client.get("/api/openapi.json").get_json()
    usage_data = spec["components"]["schemas"]["UsageData"]
    assert set(usage_data["properties"]) == {
        "month",
        "segments_used",
        "quota",
        "messages",
        "recipients",
    }
    for path in ("/api/sms", "/api/sms/send-bulk", "/api/sms/send-template"):
        assert "QUOTA_EXCEEDED" in spec["paths"][path]["post"]["responses"]["403"]["description"]
    assert "QuotaFigures" in spec["components"]["schemas"]
