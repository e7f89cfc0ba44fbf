"""Roles over the API: a department member reads their department's messages, another
department's stay 404; a viewer reads but every send is 403 FORBIDDEN, storing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from smspanel.models import Message, User, db, utcnow
from smspanel.services.departments import Assignment, assign
from smspanel.services.templates import create_template


@pytest.fixture
def office(make):
    """Finance: ann (sender), ben (viewer), cat (approver); Clinic: dan; and eve, alone."""
    finance, clinic = make.department("Finance"), make.department("Clinic")
    users = {
        "ann": make.user("ann", department=finance),
        "ben": make.user("ben", department=finance, role="viewer"),
        "cat": make.user("cat", department=finance, role="approver"),
        "dan": make.user("dan", department=clinic),
        "eve": make.user("eve"),
    }
    sent = {
        name: make.message(users[name], ["61234567"], f"from {name}")
        for name in ("ann", "cat", "dan", "eve")
    }
    return users, sent, {"finance": finance.id, "clinic": clinic.id}


def listed(client, headers) -> tuple[list[int], int]:
    data = client.get("/api/sms?per_page=100", headers=headers).get_json()["data"]
    return [m["id"] for m in data["messages"]], data["total"]


def test_members_list_their_own_and_their_departments_messages(client, make, office):
    users, sent, _ = office
    assert listed(client, make.auth(users["ben"])) == ([sent["cat"], sent["ann"]], 2)
    assert listed(client, make.auth(users["dan"])) == ([sent["dan"]], 1)
    assert listed(client, make.auth(users["eve"])) == ([sent["eve"]], 1)


def test_another_departments_message_is_404_on_every_read(client, make, office):
    users, sent, _ = office
    headers = make.auth(users["ben"])
    for suffix in ("", "/recipients", "/recipients.csv"):
        assert client.get(f"/api/sms/{sent['ann']}{suffix}", headers=headers).status_code == 200
        refused = client.get(f"/api/sms/{sent['dan']}{suffix}", headers=headers)
        assert refused.status_code == 404, suffix
    assert client.get(f"/api/sms/{sent['eve']}", headers=headers).status_code == 404


def test_a_moved_user_keeps_their_own_and_sees_the_new_departments(app, client, make, office):
    users, sent, departments = office
    with app.app_context():
        ann = db.session.get(User, users["ann"].id)
        assign(db.session, ann, Assignment(departments["clinic"], "sender"))
    ids, total = listed(client, make.auth(users["ann"]))
    assert sorted(ids) == sorted([sent["ann"], sent["dan"]]) and total == 2
    assert listed(client, make.auth(users["cat"])) == ([sent["cat"], sent["ann"]], 2)


SENDS = [
    ("/api/sms", {"recipient": "61234567", "content": "Hi"}),
    ("/api/sms/send-bulk", {"recipients": ["61234567", "61234568"], "content": "Hi"}),
    ("/api/sms/send-template", {"template_id": None, "recipients": [{"phone": "61234567"}]}),
]


def ready_to_send(app, owner, body: dict) -> dict:
    """`body` with a template of its own when it is a template send."""
    if "template_id" not in body:
        return body
    with app.app_context():
        template_id = create_template(db.session, owner.id, "Plain", "No text").id
    return {**body, "template_id": template_id}


def message_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Message.id)))


@pytest.mark.parametrize(("path", "body"), SENDS)
def test_a_viewer_gets_403_forbidden_on_every_send(app, client, make, office, path, body):
    users, _, _ = office
    body, before = ready_to_send(app, users["ann"], body), message_count(app)
    response = client.post(path, json=body, headers=make.auth(users["ben"]))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "FORBIDDEN" and "viewer" in error["message"]
    assert message_count(app) == before
    # the same request from a sender of the same department is accepted
    assert client.post(path, json=body, headers=make.auth(users["ann"])).status_code == 202


@pytest.mark.parametrize(("path", "body"), SENDS)
def test_a_send_naming_a_department_is_refused_and_stores_nothing(
    app, client, make, office, path, body
):
    users, _, departments = office
    body, before = ready_to_send(app, users["dan"], body), message_count(app)
    forged = {**body, "department_id": departments["finance"]}
    response = client.post(path, json=forged, headers=make.auth(users["dan"]))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == ["department_id"]
    assert message_count(app) == before


def test_a_viewer_made_while_their_token_lives_is_refused_at_once(app, client, make, office):
    users, _, _ = office
    headers = make.auth(users["ann"])
    with app.app_context():
        ann = db.session.get(User, users["ann"].id)
        assign(db.session, ann, Assignment(ann.department_id, "viewer"))
    response = client.post("/api/sms", json=SENDS[0][1], headers=headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "FORBIDDEN")
    assert client.get("/api/sms", headers=headers).status_code == 200  # still reads


@pytest.mark.parametrize(
    ("who", "status"), [("ann", 200), ("cat", 200), ("ben", 403), ("dan", 404), ("eve", 404)]
)
def test_who_may_cancel_a_colleagues_message(app, client, make, office, who, status):
    """ann's scheduled message: she and cat (an approver of Finance) may cancel it; ben is a
    viewer; dan and eve cannot see it."""
    users, _, _ = office
    scheduled = make.message(users["ann"], scheduled_at=utcnow() + timedelta(hours=2))
    response = client.post(f"/api/sms/{scheduled}/cancel", headers=make.auth(users[who]))
    assert response.status_code == status
    with app.app_context():
        expected = "cancelled" if status == 200 else "scheduled"
        assert db.session.get(Message, scheduled).status == expected


def test_a_sender_may_not_cancel_a_colleagues_message(app, client, make, office):
    users, _, _ = office
    scheduled = make.message(users["cat"], scheduled_at=utcnow() + timedelta(hours=2))
    response = client.post(f"/api/sms/{scheduled}/cancel", headers=make.auth(users["ann"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "FORBIDDEN"
    with app.app_context():
        assert db.session.get(Message, scheduled).status == "scheduled"


def test_a_department_members_listing_costs_a_fixed_number_of_queries(app, client, make, office):
    """The token, the exact total (both indexes, merged) and the page, however long."""
    from tests.queries import recorded_statements

    users, _, _ = office
    headers = make.auth(users["ben"])
    client.get("/api/sms", headers=headers)  # the token's first use is recorded once
    with recorded_statements(app) as few:
        client.get("/api/sms", headers=headers)
    for n in range(12):
        make.message(users["ann" if n % 2 else "cat"], [f"6000{n:04d}"], f"n{n}")
    with recorded_statements(app) as many:
        response = client.get("/api/sms?page=2&per_page=5", headers=headers)
    assert response.get_json()["data"]["total"] == 14
    assert len(many) == len(few) == 3
