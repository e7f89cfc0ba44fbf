"""What every API send does with numbers that cannot or may not get an SMS: skipped with a
reason in the 202, warned about when the plan does not know them, refused when none is left,
and commercial sends skip the do-not-call register and carry the unsubscribe statement."""

import pytest
from sqlalchemy import func, select

from smspanel.config import DEFAULT_UNSUBSCRIBE_TEXT
from smspanel.models import Message, Recipient, db
from tests.campaign_helpers import make_template
from tests.registers import dnc_register, opt_out

MOBILE, MOBILE_2 = "91234567", "61234567"
FIXED, PAGER, UNKNOWN = "28331234", "77778888", "40001234"
WARNING = "not in Hong Kong's numbering plan data; sent anyway"


def stored(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Message)),
            db.session.scalar(select(func.count()).select_from(Recipient)),
        )


def test_the_202_names_skipped_numbers_and_warns_of_unknown_ones(client, headers, app):
    opt_out(app, MOBILE_2)
    response = client.post(
        "/api/sms/send-bulk",
        json={"recipients": [MOBILE, FIXED, "7777 8888", UNKNOWN, MOBILE_2], "content": "Hi"},
        headers=headers,
    )
    assert response.status_code == 202
    body = response.get_json()
    data = body["data"]
    assert (data["recipient_count"], data["skipped_count"]) == (5, 3)
    assert data["skipped"] == [
        {"phone": FIXED, "reason": "fixed_line"},
        {"phone": PAGER, "reason": "pager"},
        {"phone": MOBILE_2, "reason": "opted_out"},
    ]
    assert data["warnings"] == [{"phone": UNKNOWN, "message": WARNING}]
    assert "3 of 5 numbers were skipped: 1 opted out, 1 fixed line, 1 pager" in body["message"]

    detail = client.get(f"/api/sms/{data['id']}", headers=headers).get_json()["data"]
    assert (detail["skipped_count"], detail["pending_count"]) == (3, 2)
    assert detail["recipient_count"] == (
        detail["success_count"]
        + detail["failed_count"]
        + detail["pending_count"]
        + detail["skipped_count"]
        + detail["cancelled_count"]
    )
    listed = client.get("/api/sms", headers=headers).get_json()["data"]["messages"]
    assert listed[0]["skipped_count"] == 3
    rows = client.get(f"/api/sms/{data['id']}/recipients", headers=headers).get_json()["data"]
    assert [(r["phone"], r["status"], r["skip_reason"]) for r in rows["recipients"]] == [
        (MOBILE, "pending", None),  # those to send in the order given, then the skipped
        (UNKNOWN, "pending", None),
        (FIXED, "skipped", "fixed_line"),
        (PAGER, "skipped", "pager"),
        (MOBILE_2, "skipped", "opted_out"),
    ]


def test_the_lists_name_the_first_hundred_and_the_count_says_all(client, headers):
    fixed_lines = [f"2833{n:04d}" for n in range(150)]
    unknown = [f"4000{n:04d}" for n in range(150)]
    response = client.post(
        "/api/sms/send-bulk",
        json={"recipients": [MOBILE, *fixed_lines, *unknown], "content": "Hi"},
        headers=headers,
    )
    data = response.get_json()["data"]
    assert data["skipped_count"] == 150
    assert [s["phone"] for s in data["skipped"]] == fixed_lines[:100]
    assert [w["phone"] for w in data["warnings"]] == unknown[:100]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sms", {"recipient": FIXED, "content": "Hi"}),
        ("/api/sms/send-bulk", {"recipients": [FIXED, MOBILE_2], "content": "Hi"}),
        (
            "/api/sms/send-bulk",
            {"recipients": [MOBILE], "content": "Sale", "commercial": True},
        ),
    ],
)
def test_a_send_with_nobody_left_is_refused_and_stores_nothing(client, headers, app, path, body):
    opt_out(app, MOBILE_2)
    dnc_register(app, [MOBILE])
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "NO_DELIVERABLE_RECIPIENTS"
    assert "no recipient is left to send to" in error["message"]
    assert {d["value"] for d in error["details"]} <= {FIXED, MOBILE_2, MOBILE}
    assert stored(app) == (0, 0)


def test_a_commercial_send_skips_the_register_and_carries_the_statement(client, headers, app):
    dnc_register(app, [MOBILE_2])
    offer = "20% off all week at our Causeway Bay shop"  # 41 characters: one SMS alone
    sale = client.post(
        "/api/sms/send-bulk",
        json={"recipients": [MOBILE, MOBILE_2], "content": offer, "commercial": True},
        headers=headers,
    ).get_json()["data"]
    notice = client.post(
        "/api/sms/send-bulk",
        json={"recipients": [MOBILE, MOBILE_2], "content": "Clinic closed"},
        headers=headers,
    ).get_json()["data"]
    assert (sale["commercial"], sale["skipped"]) == (
        True,
        [{"phone": MOBILE_2, "reason": "dnc_register"}],
    )
    assert (notice["commercial"], notice["skipped_count"]) == (False, 0)
    detail = client.get(f"/api/sms/{sale['id']}", headers=headers).get_json()["data"]
    assert detail["content"] == f"{offer}\n{DEFAULT_UNSUBSCRIBE_TEXT}"
    assert detail["commercial"] is True
    assert sale["segments"] == 2  # with the Chinese statement: 90 UCS-2 units
    one = client.post(
        "/api/sms",
        json={"recipient": MOBILE, "content": "Sale", "commercial": True},
        headers=headers,
    ).get_json()["data"]
    assert (
        client.get(f"/api/sms/{one['id']}", headers=headers)
        .get_json()["data"]["content"]
        .endswith(DEFAULT_UNSUBSCRIBE_TEXT)
    )


def test_commercial_must_be_true_or_false(client, headers):
    response = client.post(
        "/api/sms",
        json={"recipient": MOBILE, "content": "Sale", "commercial": "yes"},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "commercial"


def test_a_commercial_send_too_long_with_the_statement_says_so(client, headers, app):
    response = client.post(
        "/api/sms",
        json={"recipient": MOBILE, "content": "x" * 990, "commercial": True},
        headers=headers,
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "with the unsubscribe statement" in error["message"]
    assert stored(app) == (0, 0)


def test_a_commercial_template_send_carries_the_statement_on_every_row(client, headers, app):
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name)), 20% off.", "sale")
    opt_out(app, MOBILE_2)
    response = client.post(
        "/api/sms/send-template",
        json={
            "template_id": template_id,
            "commercial": True,
            "recipients": [
                {"phone": MOBILE, "personalisation": {"name": "Ann"}},
                {"phone": MOBILE_2, "personalisation": {"name": "Bo"}},
                {"phone": FIXED, "personalisation": {"name": "Office"}},
            ],
        },
        headers=headers,
    )
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert data["skipped"] == [
        {"phone": MOBILE_2, "reason": "opted_out"},
        {"phone": FIXED, "reason": "fixed_line"},
    ]
    rows = client.get(f"/api/sms/{data['id']}/recipients", headers=headers).get_json()["data"]
    assert {r["content"] for r in rows["recipients"]} >= {
        f"Dear Ann, 20% off.\n{DEFAULT_UNSUBSCRIBE_TEXT}"
    }


def test_a_template_row_too_long_with_the_statement_is_named(client, headers, app):
    with app.app_context():
        template_id = make_template(db.session, "((text))", "free text")
    response = client.post(
        "/api/sms/send-template",
        json={
            "template_id": template_id,
            "commercial": True,
            "recipients": [
                {"phone": MOBILE, "personalisation": {"text": "short"}},
                {"phone": MOBILE_2, "personalisation": {"text": "x" * 990}},
            ],
        },
        headers=headers,
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"][0]["field"] == "recipients[1]"
    assert "with the unsubscribe statement" in error["details"][0]["message"]


def test_the_openapi_document_describes_commercial_skipped_and_warnings(client):
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("SendRequest", "BulkSendRequest", "TemplateSendRequest"):
        assert schemas[name]["properties"]["commercial"]["type"] == "boolean"
    accepted = schemas["SendAccepted"]["properties"]
    assert {"skipped", "warnings", "skipped_count", "commercial"} <= set(accepted)
    assert "NO_DELIVERABLE_RECIPIENTS" in str(spec["paths"]["/api/sms"]["post"]["responses"])
