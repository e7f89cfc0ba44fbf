"""The SMS endpoints: contract shapes, validation, ownership, pagination."""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, Recipient, db


def test_single_send_is_accepted_for_delivery(client, headers):
    response = client.post(
        "/api/sms", json={"recipient": "9123 4567", "content": "Hello World"}, headers=headers
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["success"] is True and body["message"]
    data = body["data"]
    assert set(data) >= {"id", "status", "recipient_count", "segments", "created_at"}
    assert set(data) >= {"skipped_count", "cancelled_count", "scheduled_at", "skipped", "warnings"}
    assert (data["status"], data["recipient_count"], data["segments"]) == ("pending", 1, 1)
    assert (data["scheduled_at"], data["skipped"], data["warnings"]) == (None, [], [])
    assert datetime.fromisoformat(data["created_at"]).utcoffset() is not None


def test_bulk_send_counts_distinct_numbers_and_segments(client, headers):
    response = client.post(
        "/api/sms/send-bulk",
        headers=headers,
        json={"recipients": ["1234 5678", "12345678", "8765 4321"], "content": "中" * 71},
    )
    assert response.status_code == 202
    data = response.get_json()["data"]
    assert (data["recipient_count"], data["segments"]) == (2, 2)


def test_curl_style_json_without_content_type_works(client, headers):
    response = client.post(
        "/api/sms", data='{"recipient":"12345678","content":"Hi"}', headers=headers
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/api/sms", {"content": "Hi"}, "VALIDATION_ERROR", "recipient"),
        ("/api/sms", {"recipient": "12345678"}, "VALIDATION_ERROR", "content"),
        ("/api/sms", {"recipient": 12345678, "content": "Hi"}, "VALIDATION_ERROR", "recipient"),
        ("/api/sms", {"recipient": "12345678", "content": ""}, "VALIDATION_ERROR", "content"),
        ("/api/sms", {"recipient": "12345678", "content": "   "}, "VALIDATION_ERROR", "content"),
        (
            "/api/sms",
            {"recipient": "12345678", "content": "x" * 1001},
            "VALIDATION_ERROR",
            "content",
        ),
        (
            "/api/sms",
            {"recipient": "1234-5678", "content": "Hi"},
            "INVALID_RECIPIENTS",
            "recipient",
        ),
        ("/api/sms", {"recipient": "١٢٣٤٥٦٧٨", "content": "Hi"}, "INVALID_RECIPIENTS", "recipient"),
        (
            "/api/sms/send-bulk",
            {"recipients": [], "content": "Hi"},
            "VALIDATION_ERROR",
            "recipients",
        ),
        (
            "/api/sms/send-bulk",
            {"recipients": "12345678", "content": "Hi"},
            "VALIDATION_ERROR",
            "recipients",
        ),
        (
            "/api/sms/send-bulk",
            {"recipients": ["12345678", 5], "content": "Hi"},
            "VALIDATION_ERROR",
            "recipients[1]",
        ),
        (
            "/api/sms/send-bulk",
            {"recipients": ["12345678", "123456789"], "content": "Hi"},
            "INVALID_RECIPIENTS",
            "recipients[1]",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    app, client, headers, path, body, code, field
):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert field in [d["field"] for d in error["details"]]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_every_invalid_bulk_entry_is_listed(client, headers):
    response = client.post(
        "/api/sms/send-bulk",
        headers=headers,
        json={"recipients": ["1234-5678", "12345678", "123456789", "12 3456"], "content": "Hi"},
    )
    details = response.get_json()["error"]["details"]
    assert [(d["field"], d["value"]) for d in details] == [
        ("recipients[0]", "1234-5678"),
        ("recipients[2]", "123456789"),
        ("recipients[3]", "12 3456"),
    ]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "{", b"\xff\xfe"])
def test_malformed_bodies_are_400(client, headers, raw):
    response = client.post("/api/sms", data=raw, headers=headers, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_JSON"


def test_oversize_bodies_are_413_and_store_nothing(app, client, headers):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    recipients = ["12345678"] * 2000
    response = client.post(
        "/api/sms/send-bulk", json={"recipients": recipients, "content": "x"}, headers=headers
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_ten_thousand_recipients_in_one_request(app, client, headers):
    numbers = [f"{n:08d}" for n in range(30_000_000, 30_010_000)]
    response = client.post(
        "/api/sms/send-bulk", json={"recipients": numbers, "content": "x"}, headers=headers
    )
    assert response.status_code == 202
    assert response.get_json()["data"]["recipient_count"] == 10_000
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Recipient)) == 10_000


def test_message_detail_and_recipients(client, headers, make, alice):
    message_id = make.message(alice, ["11112222", "33334444"], "Water off tomorrow")
    detail = client.get(f"/api/sms/{message_id}", headers=headers).get_json()["data"]
    assert detail == {
        "id": message_id,
        "content": "Water off tomorrow",
        "status": "pending",
        "created_at": detail["created_at"],
        "sent_at": None,
        "recipient_count": 2,
        "success_count": 0,
        "failed_count": 0,
        "pending_count": 2,
        "skipped_count": 0,
        "cancelled_count": 0,
        "segments": 1,
        "scheduled_at": None,
        "commercial": False,
        "priority": "normal",
        "decided_by": None,
        "decided_at": None,
        "rejection_reason": None,
    }
    recipients = client.get(f"/api/sms/{message_id}/recipients", headers=headers).get_json()
    rows = recipients["data"]["recipients"]
    assert [r["phone"] for r in rows] == ["11112222", "33334444"]
    assert set(rows[0]) == {
        "id",
        "phone",
        "status",
        "error_message",
        "attempts",
        "sent_at",
        "skip_reason",
        "content",
    }
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 0


def test_another_users_message_is_404(client, make, headers):
    bob = make.user("bob")
    message_id = make.message(bob)
    for path in (f"/api/sms/{message_id}", f"/api/sms/{message_id}/recipients"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_an_admins_token_also_reads_only_the_admins_own_messages(client, make):
    """The web shows admins everyone's messages; the API never does, for anyone."""
    boss = make.user("boss", is_admin=True)
    own, theirs = make.message(boss, content="boss's"), make.message(make.user("bob"))
    headers = make.auth(boss)
    assert client.get(f"/api/sms/{own}", headers=headers).status_code == 200
    for path in (f"/api/sms/{theirs}", f"/api/sms/{theirs}/recipients"):
        assert client.get(path, headers=headers).status_code == 404
    listed = client.get("/api/sms", headers=headers).get_json()["data"]
    assert ([m["id"] for m in listed["messages"]], listed["total"]) == ([own], 1)


def test_list_shows_own_messages_newest_first_with_pagination(client, make, alice, headers):
    ids = [make.message(alice, content=f"n{i}") for i in range(5)]
    make.message(make.user("bob"))
    page = client.get("/api/sms?page=2&per_page=2", headers=headers).get_json()["data"]
    assert (page["total"], page["pages"], page["current_page"], page["per_page"]) == (5, 3, 2, 2)
    assert [m["id"] for m in page["messages"]] == [ids[2], ids[1]]
    assert set(page["messages"][0]) == {
        "id",
        "content",
        "status",
        "created_at",
        "recipient_count",
        "success_count",
        "failed_count",
        "skipped_count",
        "cancelled_count",
        "scheduled_at",
        "priority",
    }


def test_per_page_is_capped_at_100(client, headers):
    assert (
        client.get("/api/sms?per_page=5000", headers=headers).get_json()["data"]["per_page"] == 100
    )


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "per_page=0", "per_page=-3", f"page={10**20}"]
)
def test_bad_paging_is_400(client, headers, query):
    response = client.get(f"/api/sms?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/nothing-here", 404),
        ("delete", "/api/sms", 405),
        ("put", "/api/sms/1", 405),
        ("get", "/api/sms/send-bulk", 405),
    ],
)
def test_unknown_routes_and_methods_answer_json(client, headers, method, path, status):
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] in {"NOT_FOUND", "METHOD_NOT_ALLOWED"}


@pytest.mark.parametrize("path", [f"/api/sms/{10**20}", f"/api/sms/{2**63}/recipients"])
def test_ids_beyond_any_database_column_are_404(client, headers, path):
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_listing_costs_the_same_queries_for_one_message_or_many(app, client, make, alice, headers):
    """Three statements however long the history: the token, the caller's message tally
    (the total, kept by each send) and the page. Nothing counts the messages."""
    from tests.queries import recorded_statements

    make.message(alice)
    client.get("/api/sms", headers=headers)  # the token's first use is recorded once
    with recorded_statements(app) as few:
        assert client.get("/api/sms", headers=headers).status_code == 200
    for n in range(25):
        make.message(alice, [f"6000{n:04d}", "12345678"], f"n{n}")
    with recorded_statements(app) as many:
        response = client.get("/api/sms?page=2&per_page=10", headers=headers)
    assert response.get_json()["data"]["total"] == 26
    assert len(many) == len(few) == 3
    assert not [s for s in many if "count(" in s.lower()]


def test_a_page_past_the_end_is_empty_but_keeps_the_total(client, make, alice, headers):
    for n in range(3):
        make.message(alice, content=f"n{n}")
    page = client.get("/api/sms?page=9&per_page=2", headers=headers).get_json()["data"]
    assert (page["messages"], page["total"], page["pages"], page["current_page"]) == ([], 3, 2, 9)


def test_status_polling_reads_the_counters_never_the_recipients(app, client, make, alice, headers):
    """GET /api/sms/<id> answers from the counters kept on the message: it costs the same
    for 10,000 recipients as for one, and no statement reads the recipients table."""
    from tests.queries import recorded_statements

    numbers = [f"6{n:07d}" for n in range(10_000)]
    message_id = client.post(
        "/api/sms/send-bulk", json={"recipients": numbers, "content": "Big"}, headers=headers
    ).get_json()["data"]["id"]
    with recorded_statements(app) as statements:
        data = client.get(f"/api/sms/{message_id}", headers=headers).get_json()["data"]
    assert (data["recipient_count"], data["pending_count"]) == (10_000, 10_000)
    assert not [s for s in statements if "recipients" in s.lower()]
