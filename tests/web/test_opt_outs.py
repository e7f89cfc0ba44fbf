"""/admin/opt-outs: admins add numbers (typed or from a file), find them, see who put each
there, when, from where and why, remove one with a reason, and export the register."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from smspanel.models import OptOut, OptOutRecord, db
from tests.conftest import PASSWORD
from tests.web.conftest import page_text


def on_register(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OptOut.phone).order_by(OptOut.phone)))


def add(client, phones: str, reason: str = ""):
    return client.post("/admin/opt-outs", data={"phones": phones, "reason": reason})


def import_file(client, data: bytes, name: str = "stop.csv", reason: str = ""):
    return client.post(
        "/admin/opt-outs",
        data={"file": (io.BytesIO(data), name), "reason": reason},
        content_type="multipart/form-data",
    )


def test_only_admins_see_the_register(client, user_client):
    assert user_client.get("/admin/opt-outs").status_code == 403
    assert add(user_client, "91234567").status_code == 403
    assert user_client.get("/admin/opt-outs/export.csv").status_code == 403
    assert user_client.post(
        "/admin/opt-outs/91234567/remove", data={"reason": "x"}
    ).status_code == (403)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/opt-outs")
    assert response.status_code == 302 and "/login" in response.location


def test_the_page_has_the_forms_the_contract_names(admin_client):
    response = admin_client.get("/admin/opt-outs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ('name="phones"', 'name="reason"', 'name="file"', 'name="search"'):
        assert field in html
    assert 'enctype="multipart/form-data"' in html
    assert 'href="/admin/opt-outs/export.csv"' in html
    assert "The register is empty" in page_text(response)


def test_numbers_typed_in_are_added_and_shown_with_who_when_where_and_why(app, admin_client):
    response = add(admin_client, "9123 4567\n+852 6123 4567\n", "replied STOP")
    assert response.status_code == 302
    assert on_register(app) == ["61234567", "91234567"]
    page = admin_client.get(response.location)
    text = page_text(page)
    assert "2 numbers added to the opt-out register." in text
    assert "9123 4567" in text and "6123 4567" in text
    assert "replied STOP" in text and "boss" in text and "127.0.0.1" in text
    assert "web form" in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} HKT", text)


def test_numbers_already_there_are_counted_apart(app, admin_client):
    add(admin_client, "91234567")
    response = add(admin_client, "91234567\n61234567")
    text = page_text(admin_client.get(response.location))
    assert "1 number added to the opt-out register; 1 was on it already." in text


def test_a_bad_line_adds_nothing_names_the_line_and_keeps_what_was_typed(app, admin_client):
    response = add(admin_client, "91234567\n12345\n", "STOP")
    assert response.status_code == 422
    text = page_text(response)
    assert "Nothing was added" in text
    assert "line 2: “12345” is not a Hong Kong number" in text
    html = response.get_data(as_text=True)
    assert ">91234567\n12345\n</textarea>" in html and 'value="STOP"' in html
    assert on_register(app) == []


def test_search_finds_numbers_by_digits_and_shows_a_numbers_history(app, admin_client):
    add(admin_client, "91234567\n61234567\n98765432", "STOP")
    text = page_text(admin_client.get("/admin/opt-outs?search=1234"))
    assert "9123 4567" in text and "6123 4567" in text and "9876 5432" not in text
    assert "2 numbers found" in text
    whole = page_text(admin_client.get("/admin/opt-outs?search=%2B852+9876+5432"))
    assert "History of 9876 5432" in whole and "added" in whole
    none = page_text(admin_client.get("/admin/opt-outs?search=5555"))
    assert "No number on the register matches “5555”." in none


def test_removing_needs_a_reason_and_the_history_keeps_it(app, admin_client):
    add(admin_client, "91234567", "STOP")
    refused = admin_client.post("/admin/opt-outs/91234567/remove", data={"reason": "  "})
    assert refused.status_code == 422
    assert "give the reason for removing the number" in page_text(refused)
    assert on_register(app) == ["91234567"]

    removed = admin_client.post(
        "/admin/opt-outs/91234567/remove", data={"reason": "consent given again"}
    )
    assert removed.status_code == 302
    assert on_register(app) == []
    text = page_text(admin_client.get(removed.location))
    assert "was removed from the opt-out register; its record is kept" in text
    history = page_text(admin_client.get("/admin/opt-outs?search=91234567"))
    assert "History of 9123 4567" in history
    assert "removed" in history and "consent given again" in history
    with app.app_context():
        assert [r.action for r in db.session.scalars(select(OptOutRecord))] == [
            "added",
            "removed",
        ]


def test_removing_a_number_not_there_says_so(admin_client):
    response = admin_client.post("/admin/opt-outs/91234567/remove", data={"reason": "x"})
    assert response.status_code == 302
    assert "is not on the opt-out register" in page_text(admin_client.get(response.location))


def test_a_csv_file_is_imported(app, admin_client):
    response = import_file(admin_client, b"name,phone\r\nAnn,9123 4567\r\nBob,61234567\r\n")
    assert response.status_code == 302
    assert on_register(app) == ["61234567", "91234567"]
    with app.app_context():
        assert {e.source for e in db.session.scalars(select(OptOut))} == {"csv"}
    assert "file import" in page_text(admin_client.get("/admin/opt-outs"))


def test_a_file_with_a_bad_row_adds_nothing_and_names_the_row(app, admin_client):
    response = import_file(admin_client, b"phone\r\n91234567\r\nabc\r\n")
    assert response.status_code == 422
    assert "row 3: “abc” is not a Hong Kong number" in page_text(response)
    assert on_register(app) == []


def test_a_file_over_the_limit_is_refused_with_its_size(app, admin_client):
    app.config["UPLOAD_MAX_BYTES"] = 1024
    response = import_file(admin_client, b"91234567\r\n" * 10_000)  # over the form's allowance
    assert response.status_code == 413
    assert "the file is larger than 1 KB" in page_text(response)
    assert on_register(app) == []


def test_the_export_is_a_csv_for_excel_with_every_entry(admin_client):
    add(admin_client, "91234567\n61234567", "STOP")
    response = admin_client.get("/admin/opt-outs/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["phone", "reason", "source", "created_at_hkt", "added_by", "ip_address"]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows[1:]] == [
        ("61234567", "STOP", "web", "boss", "127.0.0.1"),
        ("91234567", "STOP", "web", "boss", "127.0.0.1"),
    ]


def test_the_page_is_in_chinese_for_a_hong_kong_browser(admin_client):
    add(admin_client, "91234567", "STOP")
    text = page_text(admin_client.get("/admin/opt-outs", headers={"Accept-Language": "zh-HK"}))
    assert "拒收名單" in text and "匯出" in text and "匯入" in text


def test_a_bad_line_is_named_in_chinese_with_chinese_quotes(admin_client):
    admin_client.get("/lang/zh-Hant?next=/admin/opt-outs")
    text = page_text(add(admin_client, "91234567\n12345\n", "STOP"))
    assert "電話號碼" in text
    assert "第 2 行：「12345」不是香港電話號碼" in text


def csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_forms_need_their_csrf_token(app, client, make):
    app.config["WTF_CSRF_ENABLED"] = True
    make.user("boss", is_admin=True)
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    token = csrf_token(client, "/admin/opt-outs")
    assert add(client, "91234567").status_code == 400
    assert import_file(client, b"91234567\r\n").status_code == 400
    assert client.post("/admin/opt-outs/61234567/remove", data={"reason": "x"}).status_code == 400
    assert on_register(app) == []
    with_token = client.post("/admin/opt-outs", data={"phones": "91234567", "csrf_token": token})
    assert with_token.status_code == 302
    assert on_register(app) == ["91234567"]


def test_every_input_has_a_label_and_every_form_its_token(app, admin_client):
    """As tests/web/test_page_quality.py holds every page, with entries on the register."""
    add(admin_client, "91234567\n61234567", "STOP")
    app.config["WTF_CSRF_ENABLED"] = True  # so the forms carry their token
    for path in ("/admin/opt-outs", "/admin/opt-outs?search=91234567", "/admin/dnc"):
        html = admin_client.get(path).get_data(as_text=True)
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' not in tag:
                assert re.search(r'id="([^"]+)"', tag).group(1) in labelled, tag
        for form in re.findall(r'<form[^>]*method="post".*?</form>', html, flags=re.S):
            assert 'name="csrf_token"' in form
