"""The opt-out register over the API: administrators' tokens list, add and remove numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from smspanel.models import OptOut, OptOutRecord, db


@pytest.fixture
def admin_headers(make):
    return make.auth(make.user("boss", is_admin=True))


def add(client, headers, phones, reason=None):
    body = {"phones": phones} | ({"reason": reason} if reason is not None else {})
    return client.post("/api/opt-outs", json=body, headers=headers)


def register(app) -> list[tuple[str, str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(OptOut).order_by(OptOut.phone))
        return [(r.phone, r.reason, r.source, r.created_by_name) for r in rows]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/opt-outs", None),
        ("POST", "/api/opt-outs", {"phones": ["91234567"]}),
        ("DELETE", "/api/opt-outs/91234567", {"reason": "consent"}),
    ],
)
def test_only_administrators_tokens_may_use_the_register(client, headers, method, path, body):
    response = client.open(path, method=method, json=body, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "FORBIDDEN"
    assert client.open(path, method=method, json=body).status_code == 401


def test_numbers_are_added_normalised_and_repeats_reported(app, client, admin_headers):
    response = add(client, admin_headers, ["9123 4567", "+852 6123 4567"], "replied STOP")
    assert response.status_code == 201
    assert response.get_json()["data"] == {"added": ["91234567", "61234567"], "already": []}
    again = add(client, admin_headers, ["91234567", "51234567"])
    assert again.get_json()["data"] == {"added": ["51234567"], "already": ["91234567"]}
    assert register(app) == [
        ("51234567", "", "api", "boss"),
        ("61234567", "replied STOP", "api", "boss"),
        ("91234567", "replied STOP", "api", "boss"),
    ]


def test_a_bad_number_adds_nothing_and_each_is_named(app, client, admin_headers):
    response = add(client, admin_headers, ["91234567", "1234", "abc"])
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [(d["field"], d["value"]) for d in error["details"]] == [
        ("phones[1]", "1234"),
        ("phones[2]", "abc"),
    ]
    assert register(app) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phones"),
        ({"phones": []}, "phones"),
        ({"phones": "91234567"}, "phones"),
        ({"phones": ["91234567"], "reason": "x" * 501}, "reason"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(client, admin_headers, body, field):
    response = client.post("/api/opt-outs", json=body, headers=admin_headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"][0]["field"] == field


def test_the_list_pages_and_searches(client, admin_headers):
    add(client, admin_headers, ["91234567", "61234567", "98765432"], "STOP")
    everything = client.get("/api/opt-outs", headers=admin_headers).get_json()["data"]
    assert everything["total"] == 3
    entry = everything["opt_outs"][0]
    assert set(entry) == {"phone", "reason", "source", "created_at"}
    assert entry["source"] == "api" and entry["reason"] == "STOP"
    assert entry["created_at"].endswith("+08:00")
    found = client.get("/api/opt-outs?search=1234", headers=admin_headers).get_json()["data"]
    assert sorted(e["phone"] for e in found["opt_outs"]) == ["61234567", "91234567"]
    assert found["total"] == 2
    page = client.get("/api/opt-outs?per_page=2&page=2", headers=admin_headers).get_json()
    assert len(page["data"]["opt_outs"]) == 1 and page["data"]["total"] == 3
    bad = client.get("/api/opt-outs?page=0", headers=admin_headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"][0]["field"] == "page"


def test_removal_needs_a_reason_and_keeps_the_record(app, client, admin_headers):
    add(client, admin_headers, ["91234567"], "STOP")
    for body in (None, {}, {"reason": ""}, {"reason": "   "}):  # None: no body at all
        refused = client.delete("/api/opt-outs/91234567", json=body, headers=admin_headers)
        assert refused.status_code == 400
        error = refused.get_json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"][0]["field"] == "reason"
    removed = client.delete(
        "/api/opt-outs/9123%204567", json={"reason": "consent given again"}, headers=admin_headers
    )
    assert removed.status_code == 200
    assert removed.get_json()["data"] == {"phone": "91234567", "reason": "consent given again"}
    assert register(app) == []
    with app.app_context():
        history = db.session.scalars(select(OptOutRecord).order_by(OptOutRecord.id))
        assert [(r.action, r.reason, r.source) for r in history] == [
            ("added", "STOP", "api"),
            ("removed", "consent given again", "api"),
        ]


def test_removing_a_number_not_on_the_register_is_404(client, admin_headers):
    response = client.delete(
        "/api/opt-outs/91234567", json={"reason": "consent"}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    not_a_number = client.delete(
        "/api/opt-outs/12", json={"reason": "consent"}, headers=admin_headers
    )
    assert not_a_number.status_code == 400
    assert not_a_number.get_json()["error"]["details"][0]["field"] == "phone"


def test_the_document_describes_the_three_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    assert set(spec["paths"]["/api/opt-outs"]) == {"get", "post"}
    delete = spec["paths"]["/api/opt-outs/{phone}"]["delete"]
    assert {"200", "400", "403", "404"} <= set(delete["responses"])
    assert delete["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "OptOutRemoveRequest"
    )
    listed = {p["name"] for p in spec["paths"]["/api/opt-outs"]["get"]["parameters"]}
    assert listed == {"page", "per_page", "search"}
