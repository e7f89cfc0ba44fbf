"""Sending from a file on the web: /send/upload → /send/check/<id> → /history/<id>."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from smspanel.models import Message, Recipient, Upload, db, utcnow
from tests.campaign_helpers import make_template
from tests.web.conftest import login, page_text

NOTICE = "Dear ((name)), your appointment is on ((date))."
GOOD = (
    "phone,name,date\r\n9123 4567,Ann,2 Dec\r\n1234,Bob,3 Dec\r\n61234567,,4 Dec\r\n"
    "6123 4568,陳大文,5 Dec\r\n91234567,Ann again,6 Dec\r\n"
).encode()


@pytest.fixture
def template_id(app) -> int:
    with app.app_context():
        return make_template(db.session, NOTICE, "Appointment")


def stored(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Upload, Message, Recipient)
        )


def post_file(client, template_id, data: bytes = GOOD, name: str = "clinic.csv"):
    return client.post(
        "/send/upload",
        data={"template_id": str(template_id), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def uploaded(client, template_id, data: bytes = GOOD) -> str:
    """The check page's path for a new upload of `data`."""
    response = post_file(client, template_id, data)
    assert response.status_code == 302, page_text(response)
    assert re.fullmatch(r"/send/check/[0-9a-f]{32}", response.location)
    return response.location


def test_the_upload_form_lists_templates_and_explains_the_columns(user_client, template_id):
    response = user_client.get(f"/send/upload?template_id={template_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<option value="{template_id}" selected>Appointment</option>' in html
    assert 'type="file"' in html and 'accept=".csv,.xlsx' in html
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    text = page_text(response)
    assert "phone" in text and "電話" in text and "((name))" in text
    assert 'href="/send/upload" aria-current="page">Send from a file' in html


def test_without_templates_the_form_says_to_create_one(user_client):
    html = user_client.get("/send/upload").get_data(as_text=True)
    assert '<a href="/templates/new">create a template</a>' in html


def test_the_check_page_lists_problems_repeats_preview_and_totals(user_client, template_id):
    text = page_text(user_client.get(uploaded(user_client, template_id)))
    assert "clinic.csv" in text and "Appointment" in text
    assert "Rows found 5" in text
    assert "To send 2" in text and "Rows with problems 2" in text
    assert "3 phone not a Hong Kong number" in text and "1234" in text
    assert "4 name no value for ((name))" in text
    assert "Row 6: 9123 4567 is already in row 2" in text
    assert (
        "Row 2 · to 9123 4567 · 1 segment Dear Ann, your appointment is on 2 Dec. EN:XXXXXXXX"
        in text
    )
    assert "Dear 陳大文, your appointment is on 5 Dec. EN:XXXXXXXX" in text
    assert "SMS segments in total 2" in text
    assert "Send to 2 recipients" in text
    assert "Big5" not in text and "Already sent today" not in text


def test_upload_check_and_send_lands_on_the_message(app, user_client, template_id):
    check = uploaded(user_client, template_id)
    response = user_client.post(check, data={"enquiry_number": "2833 1234"})
    assert response.status_code == 302
    assert re.fullmatch(r"/history/\d+", response.location)
    assert "queued for 2 recipients" in page_text(user_client.get(response.location))
    with app.app_context():
        message = db.session.get(Message, int(response.location.rsplit("/", 1)[1]))
        assert (message.template_id, message.personalised, message.recipient_count) == (
            template_id,
            True,
            2,
        )
        assert message.source_digest is not None
        texts = db.session.scalars(select(Recipient.content).order_by(Recipient.id)).all()
    assert texts == [
        "Dear Ann, your appointment is on 2 Dec. EN:28331234",
        "Dear 陳大文, your appointment is on 5 Dec. EN:28331234",
    ]
    assert stored(app) == (0, 1, 2)


def test_a_scheduled_send_says_when(app, user_client, template_id):
    from smspanel.hktime import to_hkt

    at = (to_hkt(utcnow()) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    check = uploaded(user_client, template_id)
    response = user_client.post(check, data={"enquiry_number": "28331234", "scheduled_at": at})
    assert response.status_code == 302
    text = page_text(user_client.get(response.location))
    assert f"scheduled for {at.replace('T', ' ')} HKT" in text


def test_a_refused_send_shows_the_check_again_with_the_typed_values(app, user_client, template_id):
    check = uploaded(user_client, template_id)
    response = user_client.post(
        check, data={"enquiry_number": "2833 12", "scheduled_at": "2020-01-01T09:00"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="2833 12"' in html and 'value="2020-01-01T09:00"' in html
    text = page_text(response)
    assert "Nothing was sent" in text
    assert "Enquiry number: enquiry number '2833 12' is not a Hong Kong number" in text
    assert "Send at: scheduled_at 2020-01-01 09:00 HKT must be at least 1 minute from now" in text
    assert "Rows found 5" in text and "Send to 2 recipients" in text
    assert stored(app) == (1, 0, 0)


def test_the_same_file_and_template_again_today_needs_confirm_duplicate(
    app, user_client, template_id
):
    first = user_client.post(
        uploaded(user_client, template_id), data={"enquiry_number": "28331234"}
    )
    first_id = first.location.rsplit("/", 1)[1]
    check = uploaded(user_client, template_id)
    page = user_client.get(check)
    html, text = page.get_data(as_text=True), page_text(page)
    assert "Already sent today" in text and f"message #{first_id}" in text and "by alice" in text
    assert f'href="/history/{first_id}"' in html and 'name="confirm_duplicate"' in html

    refused = user_client.post(check, data={"enquiry_number": "28331234"})
    assert refused.status_code == 422
    assert (
        f"Send again: this template was already sent with the same file today (message #{first_id}"
        in page_text(refused)
    )
    assert stored(app) == (1, 1, 2)

    sent = user_client.post(check, data={"enquiry_number": "28331234", "confirm_duplicate": "y"})
    assert sent.status_code == 302
    assert stored(app) == (0, 2, 4)


def test_without_an_earlier_send_no_confirmation_is_asked(user_client, template_id):
    html = user_client.get(uploaded(user_client, template_id)).get_data(as_text=True)
    assert 'name="confirm_duplicate"' not in html


def test_a_double_submit_sends_once(app, user_client, template_id):
    check = uploaded(user_client, template_id)
    assert user_client.post(check, data={"enquiry_number": "28331234"}).status_code == 302
    again = user_client.post(check, data={"enquiry_number": "28331234"})
    assert again.status_code == 404
    assert "sent already, it expired" in page_text(again)
    assert stored(app) == (0, 1, 2)


def test_another_users_upload_is_not_found(app, client, make, template_id):
    make.user("alice")
    make.user("bob")
    login(client, "alice")
    check = uploaded(client, template_id)
    client.post("/logout")
    login(client, "bob")
    assert client.get(check).status_code == 404
    assert client.post(check, data={"enquiry_number": "28331234"}).status_code == 404
    assert stored(app) == (1, 0, 0)


def test_an_expired_upload_is_not_found(app, user_client, template_id):
    check = uploaded(user_client, template_id)
    with app.app_context():
        db.session.execute(update(Upload).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert user_client.get(check).status_code == 404
    assert user_client.post(check, data={"enquiry_number": "28331234"}).status_code == 404
    assert stored(app)[1:] == (0, 0)


@pytest.mark.parametrize("path", ["/send/check/nothing", "/send/check/" + "0" * 32])
def test_an_unknown_upload_is_not_found(user_client, path):
    assert user_client.get(path).status_code == 404


def test_a_big5_file_says_it_was_read_as_big5(user_client, template_id):
    data = "電話,name,date\r\n91234567,陳大文,明天\r\n61234567,李小姐,後天\r\n".encode("big5hkscs")
    text = page_text(user_client.get(uploaded(user_client, template_id, data)))
    assert "The file was read as Big5" in text
    assert "Dear 陳大文, your appointment is on 明天." in text


def test_a_missing_column_is_one_problem_and_nothing_can_be_sent(user_client, template_id):
    data = "phone,name\r\n" + "".join(f"{20_000_000 + n},Ann\r\n" for n in range(300))
    page = user_client.get(uploaded(user_client, template_id, data.encode()))
    text = page_text(page)
    assert "Nothing in this file can be sent" in text
    assert "the template's ((date)) has no column in the file" in text
    assert "columns found: 'phone', 'name'" in text
    assert 'name="enquiry_number"' not in page.get_data(as_text=True)


def test_problems_beyond_a_hundred_are_counted_not_listed(user_client, template_id):
    data = (
        "phone,name,date\r\n"
        + "".join(f"bad{n},Ann,1\r\n" for n in range(150))
        + "91234567,Ann,1\r\n"
    )
    text = page_text(user_client.get(uploaded(user_client, template_id, data.encode())))
    assert "Rows with problems: 150 (not sent)" in text
    assert "… and 50 more problems." in text
    assert "Send to 1 recipient" in text


@pytest.mark.parametrize(
    ("data", "name", "problem"),
    [
        (b"%PDF-1.4\n", "notice.pdf", "not a CSV or .xlsx file: it looks like a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "old.xls", "an old Excel .xls file"),
        (b"name,date\r\nAnn,1\r\n", "list.csv", "no phone column"),
        (b"", "empty.csv", "the file is empty"),
        (b"phone,name\r\n", "header.csv", "header row but no rows"),
    ],
)
def test_a_refused_file_is_named_and_nothing_is_stored(
    app, user_client, template_id, data, name, problem
):
    response = post_file(user_client, template_id, data, name)
    assert response.status_code == 422
    text = page_text(response)
    assert "The file was not uploaded" in text and problem in text
    assert f'<option value="{template_id}" selected>' in response.get_data(as_text=True)
    assert stored(app) == (0, 0, 0)


@pytest.mark.parametrize("template", ["12345", "99999999999999999999"])
def test_a_template_that_does_not_exist_is_named(app, user_client, template):
    response = post_file(user_client, template)
    assert response.status_code == 422
    assert f"Template: there is no template {template}; choose one from the list" in page_text(
        response
    )
    assert stored(app) == (0, 0, 0)


def test_no_file_and_no_template_are_both_named(app, user_client):
    response = user_client.post("/send/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    text = page_text(response)
    assert "Template: choose a template" in text and "File: choose a file of recipients" in text


def test_a_file_over_the_size_limit_gets_a_page_not_a_bare_413(app, user_client, template_id):
    app.config["UPLOAD_MAX_BYTES"] = 100 * 1024
    response = post_file(user_client, template_id, b"phone\r\n" + b"91234567\r\n" * 30_000)
    assert response.status_code == 413
    text = page_text(response)
    assert re.search(r"File: the file is larger than 100 KB \(29\d KB\); split it into", text)
    assert "Send from a file" in text and "Upload and check" in text
    assert stored(app) == (0, 0, 0)


def test_a_file_just_under_the_limit_is_read_beyond_the_apps_form_limit(
    app, user_client, template_id
):
    """The app's own body limit (MAX_CONTENT_LENGTH) is smaller than a file's."""
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["UPLOAD_MAX_BYTES"] = 1024 * 1024
    rows = "".join(f"{20_000_000 + n},Ann,1\r\n" for n in range(30_000))
    check = uploaded(user_client, template_id, ("phone,name,date\r\n" + rows).encode())
    assert "Rows found 30000" in page_text(user_client.get(check))


def test_login_is_required(client, template_id):
    assert client.get("/send/upload").status_code == 302
    assert post_file(client, template_id).status_code == 302


class TestWithCsrf:
    @pytest.fixture
    def app(self, app):
        app.config["WTF_CSRF_ENABLED"] = True
        return app

    def token(self, client, path) -> str:
        html = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def log_in(self, client):
        token = self.token(client, "/login")
        client.post("/login", data={"username": "alice", "password": "correct horse battery",
                                    "csrf_token": token})  # fmt: skip

    def test_the_upload_needs_its_token(self, app, client, user, template_id):
        self.log_in(client)
        refused = post_file(client, template_id)
        assert refused.status_code == 400 and "nothing was changed" in page_text(refused)
        assert stored(app) == (0, 0, 0)
        token = self.token(client, "/send/upload")
        response = client.post(
            "/send/upload",
            data={"csrf_token": token, "template_id": str(template_id),
                  "file": (io.BytesIO(GOOD), "clinic.csv")},
            content_type="multipart/form-data",
        )  # fmt: skip
        assert response.status_code == 302

    def test_the_send_needs_its_token(self, app, client, user, template_id):
        self.log_in(client)
        token = self.token(client, "/send/upload")
        check = client.post(
            "/send/upload",
            data={"csrf_token": token, "template_id": str(template_id),
                  "file": (io.BytesIO(GOOD), "clinic.csv")},
            content_type="multipart/form-data",
        ).location  # fmt: skip
        assert client.post(check, data={"enquiry_number": "28331234"}).status_code == 400
        assert stored(app) == (1, 0, 0)
        sent = client.post(
            check, data={"enquiry_number": "28331234", "csrf_token": self.token(client, check)}
        )
        assert sent.status_code == 302


def test_the_check_page_labels_every_input_and_protects_its_form(user_client, template_id):
    """As tests/web/test_page_quality.py holds every page to, with the duplicate checkbox."""
    user_client.post(uploaded(user_client, template_id), data={"enquiry_number": "28331234"})
    html = user_client.get(uploaded(user_client, template_id)).get_data(as_text=True)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    inputs = [
        t for t in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html) if "hidden" not in t
    ]
    assert len(inputs) == 5  # enquiry number, send at, commercial, urgent, confirm_duplicate
    for tag in inputs:
        assert re.search(r'id="([^"]+)"', tag).group(1) in labelled, f"unlabelled: {tag}"
    for form in re.findall(r'<form[^>]*method="post".*?</form>', html, flags=re.S):
        assert 'name="csrf_token"' in form
    assert re.findall(r"<time [^>]*>([^<]+)</time>", html)[0].endswith(" HKT")
