"""The template pages: list, create, edit, delete; refusals name each field and keep the values."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from smspanel.models import AuditEvent, Template, db
from smspanel.services.templates import create_template
from tests.services.test_templates import schedule_from_template
from tests.web.conftest import login, page_text

REMINDER = "Dear ((name)), your appointment is on ((date)) at ((clinic))."


def stored(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(t.name, t.content) for t in db.session.scalars(select(Template).order_by("id"))]


def add(app, name="Clinic reminder", content=REMINDER, user_id=None) -> int:
    with app.app_context():
        return create_template(db.session, user_id, name, content).id


def template_actions(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [
            (e.action, e.actor_name, e.channel)
            for e in db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("template.%"))
                .order_by(AuditEvent.id)
            )
        ]


def test_the_list_shows_name_placeholders_time_and_actions(app, user_client):
    template_id = add(app)
    add(app, "Alpha notice", "No placeholders here")
    response = user_client.get("/templates")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert text.index("Alpha notice") < text.index("Clinic reminder")  # by name
    row = re.search(rf'<tr id="template-{template_id}".*?</tr>', html, flags=re.S).group(0)
    assert "((name))" in row and "((date))" in row and "((clinic))" in row
    assert re.search(r"<time [^>]*>[^<]+ HKT</time>", row)
    assert f'href="/templates/{template_id}/edit"' in row
    assert f'action="/templates/{template_id}/delete"' in row
    assert f'href="/send/upload?template_id={template_id}"' in row
    assert 'href="/templates/new"' in html
    assert re.search(r'<a href="/templates" aria-current="page">Templates</a>', html)


def test_the_empty_list_says_so(user_client):
    assert "No templates yet" in page_text(user_client.get("/templates"))


def test_creating_one_lists_it_and_audits_who_did(app, user_client):
    page = user_client.get("/templates/new")
    assert page.status_code == 200
    assert "0 / 1000 characters" in page_text(page)
    response = user_client.post(
        "/templates/new", data={"name": " Clinic reminder ", "content": "Hi ((name))\r\nBye"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/templates"
    assert stored(app) == [("Clinic reminder", "Hi ((name))\nBye")]
    listed = page_text(user_client.get("/templates"))
    assert "Template “Clinic reminder” created." in listed
    assert template_actions(app) == [("template.create", "alice", "web")]


def test_a_refused_form_names_every_problem_and_keeps_the_values(app, user_client):
    response = user_client.post("/templates/new", data={"name": "", "content": "Dear ((name, hi"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "The template was not saved" in text
    assert "Name: name is required" in text
    assert "Message: '((' at position 6 has no matching '))'" in text
    assert '<a href="#name">' in html and '<a href="#content">' in html
    assert 'aria-describedby="name-hint name-errors" aria-invalid="true"' in html
    assert ">Dear ((name, hi</textarea>" in html
    assert stored(app) == []


def test_a_name_taken_ignoring_case_is_refused_on_the_form(app, user_client):
    add(app, "Clinic reminder")
    response = user_client.post(
        "/templates/new", data={"name": "clinic REMINDER", "content": "Another text"}
    )
    assert response.status_code == 422
    assert "a template named 'Clinic reminder' already exists" in page_text(response)
    assert 'value="clinic REMINDER"' in response.get_data(as_text=True)
    assert len(stored(app)) == 1


def test_the_counter_and_placeholders_are_shown_for_the_text_as_written(app, user_client):
    response = user_client.post(
        "/templates/new", data={"name": "", "content": "明天((時間))((時間))見 ((Name)) ((name))"}
    )
    text = page_text(response)
    assert "33 / 1000 characters · 1 segment · UCS-2 (Unicode)" in text
    assert "Personalised messages may be longer" in text
    assert "adds the enquiry suffix EN:12345678 (12 characters)" in text
    found = re.search(
        r"<ul class=\"placeholder-list\"[^>]*>(.*?)</ul>", response.get_data(as_text=True), re.S
    ).group(1)
    assert re.findall(r"<code>(.*?)</code>", found) == ["((時間))", "((Name))"]


def test_editing_changes_it_and_a_refused_edit_keeps_both_the_typed_and_the_stored(
    app, user_client
):
    template_id = add(app)
    page = user_client.get(f"/templates/{template_id}/edit")
    assert page.status_code == 200
    assert 'value="Clinic reminder"' in page.get_data(as_text=True)
    assert f">{REMINDER}</textarea>" in page.get_data(as_text=True)

    refused = user_client.post(
        f"/templates/{template_id}/edit", data={"name": "New name", "content": "(( ))"}
    )
    assert refused.status_code == 422
    assert "Message: the placeholder '(( ))' at position 1 is empty" in page_text(refused)
    assert "Edit template “Clinic reminder”" in page_text(refused)
    assert 'value="New name"' in refused.get_data(as_text=True)
    assert stored(app) == [("Clinic reminder", REMINDER)]

    saved = user_client.post(
        f"/templates/{template_id}/edit", data={"name": "Clinic reminder 2", "content": "Hi"}
    )
    assert saved.status_code == 302
    assert stored(app) == [("Clinic reminder 2", "Hi")]
    assert [a for a, _, _ in template_actions(app)] == ["template.create", "template.update"]


def test_anyone_logged_in_may_manage_every_template(app, client, make):
    owner = make.user("owner")
    template_id = add(app, user_id=owner.id)
    make.user("colleague")
    login(client, "colleague")
    assert client.get(f"/templates/{template_id}/edit").status_code == 200
    response = client.post(f"/templates/{template_id}/delete")
    assert response.status_code == 302
    assert stored(app) == []
    assert "deleted" in page_text(client.get("/templates"))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/templates/999/edit"),
        ("POST", "/templates/999/edit"),
        ("POST", "/templates/999/delete"),
        ("GET", f"/templates/{2**31}/edit"),
        ("POST", f"/templates/{2**63 - 1}/delete"),
    ],
)
def test_a_missing_template_is_404(user_client, method, path):
    response = user_client.open(path, method=method, data={"name": "x", "content": "y"})
    assert response.status_code == 404
    assert "Not found" in page_text(response)


def test_a_delete_refused_while_scheduled_lists_the_messages(app, user_client, user, make):
    template_id = add(app)
    mine = schedule_from_template(app, user.id, template_id, hours_ahead=3)
    theirs = schedule_from_template(app, make.user("bob").id, template_id, hours_ahead=5)
    response = user_client.post(f"/templates/{template_id}/delete")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "Template “Clinic reminder” was not deleted" in text
    assert "2 scheduled messages will be sent from it" in text
    items = re.search(r"<ul class=\"in-use\"[^>]*>(.*?)</ul>", html, re.S).group(1)
    assert f'<a href="/history/{mine}">Message #{mine}</a>, scheduled for <time' in items
    # Another user's message is named but not linked: its page is not this user's to open.
    assert f"Message #{theirs} (another user's), scheduled for <time" in items
    assert f"/history/{theirs}" not in items
    assert len(re.findall(r"<time [^>]*>[^<]+ HKT</time>", items)) == 2
    assert len(stored(app)) == 1
    assert [a for a, _, _ in template_actions(app)] == ["template.create"]


def test_an_admin_gets_a_link_to_every_waiting_message(app, admin_client, make):
    template_id = add(app)
    theirs = schedule_from_template(app, make.user("bob").id, template_id)
    response = admin_client.post(f"/templates/{template_id}/delete")
    assert response.status_code == 409
    assert f'<a href="/history/{theirs}">Message #{theirs}</a>' in response.get_data(as_text=True)


def test_a_delete_refused_from_the_edit_page_shows_the_edit_page(app, user_client, user):
    template_id = add(app)
    mine = schedule_from_template(app, user.id, template_id)
    response = user_client.post(f"/templates/{template_id}/delete", data={"return_to": "edit"})
    assert response.status_code == 409
    text = page_text(response)
    assert "Edit template “Clinic reminder”" in text
    assert f"Message #{mine}" in text and "was not deleted" in text
    assert f">{REMINDER}</textarea>" in response.get_data(as_text=True)


def test_the_pages_need_a_login(client):
    for path in ("/templates", "/templates/new"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


class TestWithCsrf:
    """With CSRF protection on (the default), no template post changes anything without it."""

    @pytest.fixture
    def app(self, app: Flask) -> Flask:
        app.config["WTF_CSRF_ENABLED"] = True
        return app

    @staticmethod
    def token(client, path: str) -> str:
        html = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def log_in(self, client, username: str) -> None:
        from tests.conftest import PASSWORD

        token = self.token(client, "/login")
        data = {"username": username, "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302

    def test_posts_without_the_token_are_refused(self, app, client, user):
        template_id = add(app)
        self.log_in(client, user.username)
        for path, data in [
            ("/templates/new", {"name": "Forged", "content": "Hi"}),
            (f"/templates/{template_id}/edit", {"name": "Forged", "content": "Hi"}),
            (f"/templates/{template_id}/delete", {}),
        ]:
            for token in (None, "forged"):
                form = dict(data, **({"csrf_token": token} if token else {}))
                assert client.post(path, data=form).status_code == 400, path
        assert stored(app) == [("Clinic reminder", REMINDER)]

    def test_posts_with_the_token_go_through(self, app, client, user):
        self.log_in(client, user.username)
        token = self.token(client, "/templates/new")
        data = {"name": "Real", "content": "Hi", "csrf_token": token}
        assert client.post("/templates/new", data=data).status_code == 302
        template_id = add(app, "Other", "x")
        token = self.token(client, "/templates")
        delete = client.post(f"/templates/{template_id}/delete", data={"csrf_token": token})
        assert delete.status_code == 302
        assert stored(app) == [("Real", "Hi")]


def test_the_list_takes_the_same_queries_for_one_template_or_thirty(app, user_client):
    from tests.web.test_page_quality import count_queries

    add(app, "Template 0", "Hi ((name))")
    few = count_queries(app, user_client, "/templates")
    for n in range(1, 30):
        add(app, f"Template {n}", f"Hi ((name)) number {n}")
    assert count_queries(app, user_client, "/templates") == few
