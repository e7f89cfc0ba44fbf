"""/admin/dnc: admins upload OFCA's register; the page shows the copy in use (date, size,
who), warns when it is older than 10 working days, and follows an import as it loads."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from smspanel.models import AuditEvent, DncImport, DncImportStatus, db, utcnow
from smspanel.services.audit import Actor, acting_as
from smspanel.services.dnc import fail_import, start_import
from smspanel.web.dnc import LOADERS
from tests.web.conftest import page_text

ACTIVE_NUMBERS = text(
    "SELECT n.phone FROM dnc_numbers n JOIN dnc_imports i ON i.id = n.import_id "
    "WHERE i.status = 'active' ORDER BY n.phone"
)


def upload(client, data: bytes, name: str = "dnc_register.txt"):
    return client.post(
        "/admin/dnc", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def finish_imports(app) -> None:
    """Wait for the loader processes the page started."""
    for loader in list(app.extensions.get(LOADERS, {}).values()):
        assert loader.wait(120) == 0


def active_numbers(app) -> list[str]:
    with app.app_context():
        return [row[0] for row in db.session.execute(ACTIVE_NUMBERS)]


@pytest.fixture(autouse=True)
def no_load_outlives_its_test(app):
    yield
    finish_imports(app)


def test_only_admins_may_see_or_import(client, user_client):
    assert user_client.get("/admin/dnc").status_code == 403
    assert upload(user_client, b"91234567\n").status_code == 403


def test_before_any_import_the_page_says_sends_cannot_skip_the_register(admin_client):
    response = admin_client.get("/admin/dnc")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="file"' in html and 'enctype="multipart/form-data"' in html
    assert "No copy of the register has been imported yet" in page_text(response)


def test_an_upload_is_loaded_and_the_page_shows_its_date_size_and_who(app, admin_client):
    # 9123 4567 twice: the copy holds it once, and the flash counts it once
    response = upload(
        admin_client, b"Phone\r\n9123 4567\r\n+852 6123 4567\r\n51234567\r\n91234567\r\n"
    )
    assert response.status_code == 302 and response.location == "/admin/dnc"
    finish_imports(app)
    assert active_numbers(app) == ["51234567", "61234567", "91234567"]
    page = admin_client.get("/admin/dnc")
    text = page_text(page)
    assert "dnc_register.txt was read: 3 numbers are loading." in text
    assert "data-number-count>3<" in page.get_data(as_text=True)
    assert "boss" in text and "dnc_register.txt" in text and "HKT" in text
    assert "0 working days" in text
    with app.app_context():
        (loaded,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dnc.import")
        ).all()
    # The loader process acts for the admin who uploaded the file.
    assert (loaded.actor_name, loaded.channel, loaded.ip_address) == ("boss", "web", "127.0.0.1")
    assert not list((Path(app.instance_path) / "dnc-imports").iterdir())  # nothing left behind
    assert "older than 10 working days" not in text
    assert 'http-equiv="refresh"' not in page.get_data(as_text=True)


def test_a_malformed_file_is_refused_naming_the_line_and_nothing_is_replaced(app, admin_client):
    upload(admin_client, b"91234567\n")
    finish_imports(app)
    response = upload(admin_client, b"61234567\n6123 456\n", "bad.txt")
    assert response.status_code == 422
    text = page_text(response)
    assert "1 line is not a Hong Kong number" in text
    assert "line 2: “6123 456”" in text
    assert "Nothing was replaced: the copy in use stays active." in text
    assert active_numbers(app) == ["91234567"]


def test_no_file_and_a_file_too_large_are_refused(app, admin_client):
    response = admin_client.post("/admin/dnc", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "choose the register file to import" in page_text(response)
    app.config["DNC_UPLOAD_MAX_BYTES"] = 1024
    too_large = upload(admin_client, b"91234567\n" * 10_000)
    assert too_large.status_code == 413
    assert "the file is larger than 1 KB (the setting DNC_UPLOAD_MAX_BYTES)" in page_text(too_large)


def test_a_copy_older_than_10_working_days_is_warned_about(app, admin_client):
    upload(admin_client, b"91234567\n")
    finish_imports(app)
    with app.app_context():
        db.session.execute(
            update(DncImport)
            .where(DncImport.status == DncImportStatus.ACTIVE)
            .values(imported_at=utcnow() - timedelta(days=30))
        )
        db.session.commit()
    text = page_text(admin_client.get("/admin/dnc"))
    assert "This copy is older than 10 working days." in text
    assert "Download the current register from OFCA and import it." in text


def test_an_import_in_progress_is_shown_and_a_second_one_waits(app, admin_client):
    with app.app_context(), acting_as(Actor(username="carol")):
        start_import(db.session, "big register.txt")
    page = admin_client.get("/admin/dnc")
    html = page.get_data(as_text=True)
    # Nothing reloads by itself (WCAG 2.2.1): the reader refreshes when they want to.
    assert 'http-equiv="refresh"' not in html and "data-refresh-link" in html
    assert "Import in progress" in page_text(page) and "big register.txt" in page_text(page)
    assert "carol" in page_text(page)
    busy = upload(admin_client, b"91234567\n")
    assert busy.status_code == 409
    assert "another import of the register is loading" in page_text(busy)


def test_a_failed_import_is_shown_with_why(app, admin_client):
    with app.app_context(), acting_as(Actor(username="carol")):
        failing = start_import(db.session, "broken.txt")
        fail_import(db.session, failing, "OSError: disk full")
    text = page_text(admin_client.get("/admin/dnc"))
    assert "The last import failed" in text and "OSError: disk full" in text
    assert active_numbers(app) == []


def test_the_page_is_in_chinese_for_a_hong_kong_browser(app, admin_client):
    upload(admin_client, b"91234567\n")
    finish_imports(app)
    text = page_text(admin_client.get("/admin/dnc", headers={"Accept-Language": "zh-HK"}))
    assert "拒收訊息登記冊" in text and "上載並匯入" in text and "0 個工作天" in text
    chinese = admin_client.post(
        "/admin/dnc",
        data={"file": (io.BytesIO(b"12\n"), "bad.txt")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "zh-HK"},
    )
    assert chinese.status_code == 422
    assert "有 1 行不是香港電話號碼" in page_text(chinese)
