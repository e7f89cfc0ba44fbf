"""The caller's webhook over the API: PUT sets it (the secret in that answer only), GET reads
it, POST /secret rotates, DELETE removes; the deliveries are listed and resent one by one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from smspanel.models import utcnow
from tests.webhook_helpers import RECEIVER

HKT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")


pytestmark = pytest.mark.usefixtures("test_names_resolve")


def put(client, headers, body):
    return client.put("/api/webhook", json=body, headers=headers)


def test_put_creates_the_webhook_and_shows_its_secret_this_once(client, headers):
    created = put(client, headers, {"url": RECEIVER, "events": ["message.final"]})
    assert created.status_code == 200
    data = created.get_json()["data"]
    assert data["url"] == RECEIVER and data["events"] == ["message.final"]
    assert data["secret"].startswith("whsec_")
    assert created.headers["Cache-Control"] == "no-store"

    shown = client.get("/api/webhook", headers=headers)
    assert shown.status_code == 200
    read = shown.get_json()["data"]
    assert set(read) == {"url", "events", "created_at", "updated_at", "secret_rotated_at"}
    assert read["url"] == RECEIVER and read["events"] == ["message.final"]
    assert all(HKT_TIME.match(read[key]) for key in ("created_at", "updated_at"))
    assert data["secret"] not in shown.get_data(as_text=True)


def test_put_again_keeps_the_secret_unless_asked_to_rotate(client, headers):
    first = put(client, headers, {"url": RECEIVER, "events": ["message.final"]})
    secret = first.get_json()["data"]["secret"]
    changed = put(
        client, headers, {"url": RECEIVER + "/v2", "events": ["recipient.final", "message.final"]}
    )
    assert changed.status_code == 200
    assert changed.get_json()["data"] == {
        "url": RECEIVER + "/v2",
        "events": ["message.final", "recipient.final"],
        "secret": None,
    }
    rotated = put(
        client, headers, {"url": RECEIVER, "events": ["message.final"], "rotate_secret": True}
    )
    assert rotated.get_json()["data"]["secret"] not in (None, secret)


def test_a_secret_in_the_body_is_ignored_never_taken(client, headers):
    """Unknown fields are ignored, as everywhere in this API; the secret is always made here."""
    body = {"url": RECEIVER, "events": ["message.final"], "secret": "whsec_mine"}
    answer = put(client, headers, body)
    assert answer.status_code == 200
    assert answer.get_json()["data"]["secret"] not in (None, "whsec_mine")


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "ftp://x.example.com/", "events": ["message.final"]}, "url", "must start with"),
        ({"url": "http://hooks.example.com/", "events": ["message.final"]}, "url", "https://"),
        ({"url": "https://169.254.169.254/", "events": ["message.final"]}, "url", "link-local"),
        ({"url": "https://internal.example.com/", "events": ["message.final"]}, "url", "private"),
        ({"url": "https://a@hooks.example.com/", "events": ["message.final"]}, "url", "password"),
        (
            {"url": "https://x.example.com/" + "a" * 2000, "events": ["message.final"]},
            "url",
            "2000",
        ),
        ({"url": RECEIVER, "events": []}, "events", "Choose at least one event."),
        ({"url": RECEIVER, "events": ["message.sent"]}, "events", "“message.sent” is not an event"),
        ({"url": RECEIVER}, "events", "Field required"),
        ({"events": ["message.final"]}, "url", "Field required"),
        ({"url": RECEIVER, "events": "message.final"}, "events", "valid list"),
        ({"url": RECEIVER, "events": [1]}, "events[0]", "valid string"),
        ({"url": 5, "events": ["message.final"]}, "url", "valid string"),
        (
            {"url": RECEIVER, "events": ["message.final"], "rotate_secret": "yes"},
            "rotate_secret",
            "boolean",
        ),
    ],
)
def test_a_bad_webhook_is_400_naming_the_field_and_why(client, headers, body, field, says):
    refused = put(client, headers, body)
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == [field]
    assert says in error["details"][0]["message"]
    assert client.get("/api/webhook", headers=headers).status_code == 404


def test_url_and_events_problems_are_named_together(client, headers):
    refused = put(client, headers, {"url": "javascript:alert(1)", "events": ["all"]})
    details = refused.get_json()["error"]["details"]
    assert [d["field"] for d in details] == ["url", "events"]


def test_a_body_that_is_not_an_object_is_invalid_json(client, headers):
    answer = client.put("/api/webhook", data="[1]", headers=headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "INVALID_JSON"


def test_http_and_private_receivers_when_the_panel_allows_them(app, client, headers):
    app.config["WEBHOOK_ALLOW_HTTP"] = True
    answer = put(
        client, headers, {"url": "http://127.0.0.1:9000/hook", "events": ["message.final"]}
    )
    assert answer.status_code == 200
    refused = put(client, headers, {"url": "http://169.254.169.254/", "events": ["message.final"]})
    assert refused.status_code == 400


def test_without_a_webhook_reads_and_changes_are_404(client, headers):
    for method, path in [
        ("GET", "/api/webhook"),
        ("DELETE", "/api/webhook"),
        ("POST", "/api/webhook/secret"),
    ]:
        answer = client.open(path, method=method, headers=headers)
        assert answer.status_code == 404, (method, path)
        assert answer.get_json()["error"]["code"] == "NOT_FOUND"
        assert "PUT /api/webhook" in answer.get_json()["error"]["message"]


def test_rotating_gives_a_new_secret(client, headers):
    first = put(client, headers, {"url": RECEIVER, "events": ["message.final"]}).get_json()
    rotated = client.post("/api/webhook/secret", headers=headers)
    assert rotated.status_code == 200
    data = rotated.get_json()["data"]
    assert data["url"] == RECEIVER and data["events"] == ["message.final"]
    assert data["secret"] not in (None, first["data"]["secret"])


def test_delete_is_204_and_fails_the_pending_deliveries(client, headers, alice, add_delivery):
    put(client, headers, {"url": RECEIVER, "events": ["message.final"]})
    pending = add_delivery(alice.id, status="pending")
    removed = client.delete("/api/webhook", headers=headers)
    assert removed.status_code == 204
    assert removed.get_data() == b"" and "Content-Type" not in removed.headers
    assert client.get("/api/webhook", headers=headers).status_code == 404
    listed = client.get("/api/webhook/deliveries", headers=headers).get_json()["data"]
    assert [(d["id"], d["status"], d["last_error"]) for d in listed["deliveries"]] == [
        (pending, "failed", "webhook removed")
    ]


def test_deliveries_are_listed_newest_first_with_how_each_went(
    client, headers, alice, make, add_delivery
):
    start = utcnow() - timedelta(hours=2)
    older = add_delivery(alice.id, created_at=start, last_error="HTTP 500 from the receiver")
    newer = add_delivery(
        alice.id,
        status="pending",
        event_type="recipient.final",
        created_at=start + timedelta(hours=1),
        message_id=7,
        recipient_count=250,
        last_status_code=None,
    )
    add_delivery(make.user().id)  # someone else's
    listed = client.get("/api/webhook/deliveries", headers=headers)
    assert listed.status_code == 200
    data = listed.get_json()["data"]
    assert data["total"] == 2
    first, second = data["deliveries"]
    assert (first["id"], second["id"]) == (newer, older)
    assert set(first) == {
        "id",
        "event_id",
        "type",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "updated_at",
        "delivered_at",
        "next_attempt_at",
        "message_id",
        "recipient_count",
    }
    assert (first["type"], first["status"], first["message_id"], first["recipient_count"]) == (
        "recipient.final",
        "pending",
        7,
        250,
    )
    assert HKT_TIME.match(first["created_at"]) and HKT_TIME.match(first["next_attempt_at"])
    assert (second["status"], second["last_status_code"], second["next_attempt_at"]) == (
        "failed",
        500,
        None,
    )
    assert second["last_error"] == "HTTP 500 from the receiver"


def test_deliveries_come_in_pages(client, headers, alice, add_delivery):
    start = utcnow() - timedelta(hours=1)
    ids = [add_delivery(alice.id, created_at=start + timedelta(minutes=n)) for n in range(3)]
    page = client.get("/api/webhook/deliveries?per_page=2&page=2", headers=headers)
    data = page.get_json()["data"]
    assert ([d["id"] for d in data["deliveries"]], data["total"]) == ([ids[0]], 3)
    refused = client.get("/api/webhook/deliveries?page=0", headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"][0]["field"] == "page"


def test_resend_makes_the_delivery_pending_now(client, headers, alice, add_delivery):
    put(client, headers, {"url": RECEIVER, "events": ["message.final"]})
    delivery_id = add_delivery(alice.id, created_at=utcnow() - timedelta(days=2))
    before = add_delivery.row(delivery_id)
    answer = client.post(f"/api/webhook/deliveries/{delivery_id}/resend", headers=headers)
    assert answer.status_code == 200
    data = answer.get_json()["data"]
    assert (data["id"], data["status"], data["attempts"], data["event_id"]) == (
        delivery_id,
        "pending",
        0,
        before.event_id,
    )
    after = add_delivery.row(delivery_id)
    assert after.retry_until - after.next_attempt_at == timedelta(hours=24)
    assert abs(after.next_attempt_at - utcnow()) < timedelta(minutes=1)


def test_resend_of_another_users_delivery_or_without_a_webhook_is_404(
    client, headers, alice, make, add_delivery
):
    put(client, headers, {"url": RECEIVER, "events": ["message.final"]})
    theirs = add_delivery(make.user().id)
    answer = client.post(f"/api/webhook/deliveries/{theirs}/resend", headers=headers)
    assert answer.status_code == 404
    assert answer.get_json()["error"] == {
        "code": "NOT_FOUND",
        "message": f"no webhook delivery {theirs}",
    }
    mine = add_delivery(alice.id)
    client.delete("/api/webhook", headers=headers)
    answer = client.post(f"/api/webhook/deliveries/{mine}/resend", headers=headers)
    assert answer.status_code == 404
    assert "no webhook is set" in answer.get_json()["error"]["message"]
    assert add_delivery.row(theirs).status == add_delivery.row(mine).status == "failed"


def test_a_viewer_may_keep_a_webhook(client, make):
    viewer = make.user(department=make.department(), role="viewer")
    answer = put(client, make.auth(viewer), {"url": RECEIVER, "events": ["message.final"]})
    assert answer.status_code == 200


def test_every_webhook_call_needs_a_token(client):
    for method, path in [
        ("GET", "/api/webhook"),
        ("PUT", "/api/webhook"),
        ("DELETE", "/api/webhook"),
        ("POST", "/api/webhook/secret"),
        ("GET", "/api/webhook/deliveries"),
        ("POST", "/api/webhook/deliveries/1/resend"),
    ]:
        assert client.open(path, method=method).status_code == 401, (method, path)


def test_the_openapi_document_describes_the_webhook_calls(client):
    spec = client.get("/api/openapi.json").get_json()
    assert set(spec["paths"]["/api/webhook"]) == {"get", "put", "delete"}
    assert set(spec["paths"]["/api/webhook/secret"]) == {"post"}
    assert set(spec["paths"]["/api/webhook/deliveries"]) == {"get"}
    assert set(spec["paths"]["/api/webhook/deliveries/{delivery_id}/resend"]) == {"post"}
    schemas = spec["components"]["schemas"]
    assert schemas["WebhookRequest"]["required"] == ["url", "events"]
    assert set(schemas["WebhookDeliveryOut"]["properties"]["type"]["enum"]) == {
        "message.final",
        "recipient.final",
    }
    put_answers = spec["paths"]["/api/webhook"]["put"]["responses"]
    assert set(put_answers) == {"200", "400", "401", "413", "503"}
