"""Departments on the web: admins list, create and edit them; members see their
department's messages everywhere they read, viewers read but never send."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from smspanel.models import AuditEvent, Department, Message, db
from tests.web.conftest import login, page_text


def department_row(app, department_id: int) -> tuple[int, int]:
    with app.app_context():
        stored = db.session.get(Department, department_id)
        return stored.monthly_segment_quota, stored.approval_threshold


def test_the_list_shows_members_quota_and_threshold(admin_client, make):
    finance = make.department("Finance", quota=50_000, threshold=500)
    make.department("Clinic")
    make.user("ann", department=finance)
    make.user("ben", department=finance, role="viewer")
    html = admin_client.get("/admin/departments").get_data(as_text=True)
    row = html[html.index(f'id="department-{finance.id}"') :]
    row = row[: row.index("</tr>")]
    assert "Finance" in row and f"/admin/departments/{finance.id}" in row
    assert '<td class="num" data-label="Members" data-member-count>2</td>' in row
    assert "50,000" in row and "500 recipients" in row
    assert "never" in page_text(admin_client.get("/admin/departments"))  # Clinic: no approvals


def test_admins_create_a_department(app, admin_client):
    response = admin_client.post("/admin/departments", data={"name": "Finance"})
    assert response.status_code == 302
    with app.app_context():
        department = db.session.scalar(select(Department))
    assert response.location.endswith(f"/admin/departments/{department.id}")
    followed = admin_client.get(response.location)
    assert "Created department Finance." in page_text(followed)
    audit = page_text(admin_client.get("/admin/audit?action=department.create"))
    assert f"department:{department.id} Finance" in audit and "Filter ignored" not in audit


@pytest.mark.parametrize(
    ("name", "problem"),
    [("finance", "There is already a department called 'finance'"), ("", "Enter a name")],
)
def test_a_duplicate_or_missing_name_is_a_clear_error(app, admin_client, make, name, problem):
    make.department("Finance")
    response = admin_client.post("/admin/departments", data={"name": name})
    assert response.status_code == 422
    text = page_text(response)
    assert "The department was not created" in text
    assert problem.lower() in text.lower()
    assert 'aria-describedby="name-hint name-errors" aria-invalid="true"' in response.get_data(
        as_text=True
    )
    with app.app_context():
        assert db.session.scalar(select(func.count(Department.id))) == 1


def test_a_department_page_lists_members_and_edits_limits(app, admin_client, make):
    finance = make.department("Finance")
    ann = make.user("ann", department=finance, role="approver")
    make.user("loner")
    page = admin_client.get(f"/admin/departments/{finance.id}")
    text = page_text(page)
    assert "ann" in text and "Approver" in text and "loner" not in text
    assert f'href="/admin/users/{ann.id}"' in page.get_data(as_text=True)
    response = admin_client.post(
        f"/admin/departments/{finance.id}",
        data={"monthly_segment_quota": "10000", "approval_threshold": "200"},
    )
    assert response.status_code == 302
    assert department_row(app, finance.id) == (10_000, 200)
    assert 'value="10000"' in admin_client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == "department.update")
        ) == ("monthly_segment_quota 0 -> 10000; approval_threshold 0 -> 200")


@pytest.mark.parametrize("bad", ["-1", "abc", ""])
@pytest.mark.parametrize("field", ["monthly_segment_quota", "approval_threshold"])
def test_a_bad_limit_is_a_form_error_naming_the_field(app, admin_client, make, field, bad):
    finance = make.department("Finance", quota=100, threshold=10)
    data = {"monthly_segment_quota": "5000", "approval_threshold": "50", field: bad}
    response = admin_client.post(f"/admin/departments/{finance.id}", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'aria-describedby="{field}-hint {field}-errors" aria-invalid="true"' in html
    assert f'id="{field}-errors"' in html
    assert "Nothing was changed" in page_text(response)
    assert department_row(app, finance.id) == (100, 10)


def test_a_missing_department_is_404(admin_client):
    assert admin_client.get("/admin/departments/999").status_code == 404
    assert admin_client.post("/admin/departments/999", data={}).status_code == 404


def test_department_pages_are_for_admins_only(client, make):
    finance = make.department("Finance")
    make.user("ann", department=finance, role="approver")
    login(client, "ann")
    for path in ("/admin/departments", f"/admin/departments/{finance.id}"):
        assert client.get(path).status_code == 403
        assert client.post(path, data={"name": "x", "approval_threshold": "1"}).status_code == 403
    assert department_row(client.application, finance.id) == (0, 0)


def test_admins_find_departments_in_the_navigation(admin_client, user_client):
    assert 'href="/admin/departments"' in admin_client.get("/").get_data(as_text=True)


# --- what members see -------------------------------------------------------------------------


@pytest.fixture
def office(make):
    """Finance: ann (sender), ben (viewer), cat (approver); Clinic: dan. Each has sent one."""
    finance, clinic = make.department("Finance"), make.department("Clinic")
    ann = make.user("ann", department=finance)
    cat = make.user("cat", department=finance, role="approver")
    dan = make.user("dan", department=clinic)
    ben = make.user("ben", department=finance, role="viewer")
    sent = {
        "ann": make.message(ann, ["61234567"], "Finance notice from ann"),
        "cat": make.message(cat, ["61234568"], "Finance notice from cat"),
        "dan": make.message(dan, ["61234569"], "Clinic notice from dan"),
    }
    return {"ann": ann, "ben": ben, "cat": cat, "dan": dan}, sent


def test_members_see_their_departments_messages_and_not_anothers(client, office):
    users, sent = office
    login(client, users["ben"].username)
    history = page_text(client.get("/history"))
    assert "from ann" in history and "from cat" in history and "from dan" not in history
    dashboard = page_text(client.get("/"))
    assert "from ann" in dashboard and "from dan" not in dashboard
    assert "your department's" in dashboard
    for own_department in (sent["ann"], sent["cat"]):
        assert client.get(f"/history/{own_department}").status_code == 200
        assert client.get(f"/history/{own_department}/export.csv").status_code == 200
    assert client.get(f"/history/{sent['dan']}").status_code == 404
    assert client.get(f"/history/{sent['dan']}/export.csv").status_code == 404
    exported = client.get("/history/export.csv").get_data(as_text=True)
    assert "from ann" in exported and "from cat" in exported and "from dan" not in exported


def test_a_viewer_reads_but_is_offered_no_sending(client, office):
    users, _ = office
    login(client, users["ben"].username)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/compose"' not in html and 'href="/send/upload"' not in html
    assert "Your role is viewer" in page_text(client.get("/"))
    for path in ("/compose", "/send/upload"):
        refused = client.get(path)
        assert refused.status_code == 403
        assert "Your role is viewer: you can read messages but not send them." in page_text(refused)
    response = client.post("/compose", data={"recipients": "61234567", "content": "Hi"})
    assert response.status_code == 403
    with client.application.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 3
    templates = client.get("/templates").get_data(as_text=True)
    assert 'href="/templates/new"' not in templates


def test_senders_still_see_the_compose_links(client, office):
    users, _ = office
    login(client, users["ann"].username)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/compose"' in html and 'href="/send/upload"' in html


@pytest.mark.parametrize(
    ("who", "allowed"), [("ann", True), ("cat", True), ("ben", False), ("dan", False)]
)
def test_who_may_cancel_a_colleagues_scheduled_message(app, client, make, office, who, allowed):
    """ann's scheduled message: she and cat (an approver of Finance) may cancel it; ben is a
    viewer; dan cannot even see it. Admins may too (tests/web/test_schedule_and_cancel.py)."""
    from datetime import timedelta

    from smspanel.models import utcnow

    users, _ = office
    scheduled = make.message(users["ann"], scheduled_at=utcnow() + timedelta(hours=2))
    login(client, users[who].username)
    page = client.get(f"/history/{scheduled}")
    response = client.post(f"/history/{scheduled}/cancel")
    with app.app_context():
        status = db.session.get(Message, scheduled).status
    if allowed:
        assert f'action="/history/{scheduled}/cancel"' in page.get_data(as_text=True)
        assert response.status_code == 302 and status == "cancelled"
    else:
        assert response.status_code in (403, 404) and status == "scheduled"
        if page.status_code == 200:
            assert f'action="/history/{scheduled}/cancel"' not in page.get_data(as_text=True)


def test_a_sender_may_not_cancel_a_colleagues_message(app, client, make, office):
    from datetime import timedelta

    from smspanel.models import utcnow

    users, _ = office
    scheduled = make.message(users["cat"], scheduled_at=utcnow() + timedelta(hours=2))
    login(client, users["ann"].username)
    assert client.get(f"/history/{scheduled}").status_code == 200
    refused = client.post(f"/history/{scheduled}/cancel")
    assert refused.status_code == 403
    assert "Only its sender, an approver of its department" in page_text(refused)
    with app.app_context():
        assert db.session.get(Message, scheduled).status == "scheduled"
