"""`Idempotency-Key` on the send calls: a safe retry after a timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, db
from tests.campaign_helpers import make_template

SENDS = {
    "/api/sms": {"recipient": "91234567", "content": "Typhoon signal 8: school closed"},
    "/api/sms/send-bulk": {"recipients": ["91234567", "92345678"], "content": "Closed"},
}


def messages(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def keyed(headers, key):
    return {**headers, "Idempotency-Key": key}


@pytest.mark.parametrize("path", SENDS)
def test_a_retry_with_the_same_key_gets_the_first_answer_and_sends_nothing_more(
    app, client, headers, path
):
    first = client.post(path, json=SENDS[path], headers=keyed(headers, "booking-1"))
    retry = client.post(path, json=SENDS[path], headers=keyed(headers, "booking-1"))
    assert first.status_code == retry.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert retry.content_type == "application/json"
    assert messages(app) == 1


def test_a_personalised_send_is_idempotent_too(app, client, headers):
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name))", "greeting")
    body = {
        "template_id": template_id,
        "recipients": [{"phone": "91234567", "personalisation": {"name": "Ada"}}],
    }
    first = client.post("/api/sms/send-template", json=body, headers=keyed(headers, "t-1"))
    retry = client.post("/api/sms/send-template", json=body, headers=keyed(headers, "t-1"))
    assert (first.status_code, retry.headers.get("Idempotent-Replayed")) == (202, "true")
    assert retry.get_json()["data"]["id"] == first.get_json()["data"]["id"]
    assert messages(app) == 1


def test_without_a_key_every_post_is_a_new_send(app, client, headers):
    for _ in range(2):
        assert client.post("/api/sms", json=SENDS["/api/sms"], headers=headers).status_code == 202
    assert messages(app) == 2


def test_the_same_key_with_another_body_is_422_and_stores_nothing(app, client, headers):
    client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(headers, "k"))
    changed = {**SENDS["/api/sms"], "content": "Typhoon signal 8: school open"}
    response = client.post("/api/sms", json=changed, headers=keyed(headers, "k"))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    elsewhere = client.post(
        "/api/sms/send-bulk",
        json={"recipients": ["91234567"], "content": SENDS["/api/sms"]["content"]},
        headers=keyed(headers, "k"),
    )
    assert elsewhere.status_code == 422  # another call is another request
    assert messages(app) == 1


def test_the_same_body_in_another_key_order_is_the_same_request(app, client, headers):
    client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(headers, "k"))
    reordered = '{"content": "Typhoon signal 8: school closed",   "recipient": "91234567"}'
    retry = client.post(
        "/api/sms",
        data=reordered,
        headers={**keyed(headers, "k"), "Content-Type": "application/json"},
    )
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert messages(app) == 1


def test_a_refused_send_is_not_remembered_so_the_corrected_one_goes(app, client, headers):
    bad = {"recipient": "1234", "content": "Hi"}
    refused = client.post("/api/sms", json=bad, headers=keyed(headers, "fix-me"))
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "INVALID_RECIPIENTS"
    fixed = client.post(
        "/api/sms", json={**bad, "recipient": "91234567"}, headers=keyed(headers, "fix-me")
    )
    assert fixed.status_code == 202
    assert "Idempotent-Replayed" not in fixed.headers
    assert messages(app) == 1


def test_another_users_key_is_theirs(app, client, headers, make):
    bob = make.auth(make.user("bob"))
    client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(headers, "same"))
    theirs = client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(bob, "same"))
    assert theirs.status_code == 202 and "Idempotent-Replayed" not in theirs.headers
    assert messages(app) == 2


@pytest.mark.parametrize(
    ("key", "problem"),
    [("k" * 256, "at most 255"), ("tab\tinside", "printable ASCII"), ("", "empty")],
)
def test_a_bad_key_is_400_naming_the_header(app, client, headers, key, problem):
    response = client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(headers, key))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"][0]["field"] == "Idempotency-Key"
    assert problem in error["message"]
    assert messages(app) == 0


def test_a_twin_still_running_after_the_waits_is_409_with_retry_after(
    app, client, headers, monkeypatch
):
    from smspanel.services import idempotency

    def still_running(*args, **kwargs):
        raise idempotency.KeyInProgress()

    monkeypatch.setattr(idempotency, "answer_once", still_running)
    response = client.post("/api/sms", json=SENDS["/api/sms"], headers=keyed(headers, "busy"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert int(response.headers["Retry-After"]) >= 1


def test_the_api_document_describes_the_header_and_its_answers(client):
    document = client.get("/api/openapi.json").get_json()
    for path in ("/api/sms", "/api/sms/send-bulk", "/api/sms/send-template"):
        post = document["paths"][path]["post"]
        header = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
        assert header["in"] == "header" and header["schema"]["maxLength"] == 255
        assert "Idempotent-Replayed" in post["responses"]["202"]["headers"]
        assert {"409", "422"} <= set(post["responses"])
