"""In a real browser: upload a real CSV and a real .xlsx, read the check page, send.

Templates are put straight into the running app's database (their pages are not part of
this test); screenshots of the upload and check pages go under docs/screenshots/.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import create_engine, insert

from loopback import App, wait_until
from smspanel.hktime import to_hkt
from smspanel.models import Template, utcnow
from tests.browser.conftest import log_in, open_tab, screenshot

DELIVERY_TIMEOUT_S = 30


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def add_template(live_app, content: str) -> tuple[int, str]:
    name = f"Clinic reminder {secrets.token_hex(3)}"
    engine = create_engine(live_app.database_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(
                insert(Template.__table__),
                {"name": name, "content": content, "created_at": utcnow(), "updated_at": utcnow()},
            )
            return result.inserted_primary_key[0], name
    finally:
        engine.dispose()


def upload(page, template_name: str, path) -> None:
    page.goto("/send/upload")
    page.get_by_label("Template").select_option(label=template_name)
    page.get_by_label("File of recipients").set_input_files(str(path))
    screenshot(page, "send-upload")
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/send/check/[0-9a-f]{32}$"))


def test_a_csv_is_checked_then_sent_and_each_number_gets_its_own_text(
    page, live_app, gateway, tmp_path
):
    template_id, name = add_template(live_app, "Dear ((name)), your appointment is at ((clinic)).")
    run = secrets.randbelow(9000) + 1000  # numbers of this test's own, on a shared gateway
    csv = tmp_path / "clinic.csv"
    csv.write_text(
        "Phone,Name,Clinic\n"
        f"9{run}001,Ann,Tsuen Wan\n"
        "1234,Bob,Sha Tin\n"
        f"9{run}002,,Kwun Tong\n"
        f"9{run}003,Carmen,Sha Tin\n"
        f"9{run}004,David,Tuen Mun\n"
        f"6{run}005,陳大文,荃灣診所\n"
        f"9{run}001,Ann again,Tsuen Wan\n",
        encoding="utf-8-sig",
    )
    log_in(page)
    page.goto(f"/send/upload?template_id={template_id}")
    expect()(page.get_by_label("Template")).to_have_value(str(template_id))
    upload(page, name, csv)

    expect()(page.locator("[data-rows-found]")).to_have_text("7")
    expect()(page.locator("[data-sms-count]")).to_have_text("4")
    problems = page.locator("[data-problems]")
    expect()(problems).to_contain_text("Phone")
    expect()(problems).to_contain_text("not a Hong Kong number")
    expect()(problems).to_contain_text("no value for ((name))")
    expect()(page.locator("[data-repeated-list]")).to_contain_text("Row 8:")
    expect()(page.locator("[data-repeated-list]")).to_contain_text("is already in row 2")
    preview = page.locator("[data-preview] li")
    expect()(preview).to_have_count(3)
    expect()(preview.first).to_contain_text(
        "Dear Ann, your appointment is at Tsuen Wan. EN:XXXXXXXX"
    )
    screenshot(page, "send-check")

    page.get_by_label("Enquiry number").fill("2833 12")
    page.get_by_role("button", name="Send to 4 recipients").click()
    expect()(page.locator("#enquiry_number-errors")).to_contain_text("not a Hong Kong number")
    expect()(page.get_by_label("Enquiry number")).to_have_value("2833 12")

    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_role("button", name="Send to 4 recipients").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    expect()(page.locator(".flash-success")).to_contain_text("queued for 4 recipients")

    def delivered() -> dict[str, str]:
        messages = gateway.received(messages=True)["messages"]
        return {
            m["mrt"]: m["msg_utf8"]
            for m in messages
            if m["mrt"] in {f"8529{run}001", f"8526{run}005"}
        }

    texts = wait_until(lambda: len(delivered()) == 2 and delivered(), DELIVERY_TIMEOUT_S)
    assert texts == {
        f"8529{run}001": "Dear Ann, your appointment is at Tsuen Wan. EN:28331234",
        f"8526{run}005": "Dear 陳大文, your appointment is at 荃灣診所. EN:28331234",
    }


def test_the_check_pages_totals_follow_the_commercial_box_and_are_what_is_stored(
    page, live_app, tmp_path
):
    """A fixed line is not counted; ticked, the unsubscribe statement makes the text UCS-2."""
    _template_id, name = add_template(live_app, "Dear ((name)), 20% off this week.")
    run = secrets.randbelow(9000) + 1000
    csv = tmp_path / "offer.csv"
    csv.write_text(f"phone,name\n9{run}001,Ann\n2833{run},Office\n", encoding="utf-8")
    log_in(page)
    upload(page, name, csv)
    segments = page.locator("[data-total-segments]")
    shown = {"use_inner_text": True}  # each figure holds both kinds of send; one is shown
    expect()(page.locator("[data-sms-count]")).to_have_text("1", **shown)
    expect()(segments).to_have_text("1", **shown)
    expect()(page.locator("[data-preview] li").nth(1)).to_contain_text("not sent: fixed line")
    page.get_by_label("Commercial message (promotion or offer)").check()
    expect()(segments).to_have_text("2", **shown)
    total = page.locator("[data-send-total]")
    expect()(total).to_contain_text("1 message, 2 SMS segments", **shown)
    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_role("button", name="Send to 1 recipient").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    expect()(page.get_by_text("2 in total (personalised)")).to_be_visible()


def test_an_xlsx_is_checked_then_scheduled(page, live_app, tmp_path):
    _, name = add_template(live_app, "((name)): your visit is on ((date)).")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["手機", "name", "date"])
    sheet.append([91230001, "Ann", date(2026, 12, 2)])
    sheet.append(["6123 0002", "Bob", date(2026, 12, 3)])
    path = tmp_path / "visits.xlsx"
    workbook.save(path)

    log_in(page)
    upload(page, name, path)
    expect()(page.locator("[data-rows-found]")).to_have_text("2")
    expect()(page.locator("[data-preview]")).to_contain_text("Ann: your visit is on 2026-12-02.")
    expect()(page.locator("#file-summary")).to_contain_text("Excel workbook")

    at = (to_hkt(utcnow()) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_label("Send at").fill(at)
    page.get_by_role("button", name="Send to 2 recipients").click()
    page.wait_for_url(re.compile(r"/history/\d+$"))
    expect()(page.locator(".flash-success")).to_contain_text(
        f"scheduled for {at.replace('T', ' ')} HKT to 2 recipients"
    )
    page.go_back()
    page.reload()
    expect()(page.locator("h1")).to_have_text("Upload not found")


@pytest.fixture(scope="module")
def small_limit_app(tmp_path_factory):
    """gunicorn, as deployed, with a 1 MB file limit."""
    app = App.gunicorn(
        tmp_path_factory.mktemp("upload-limit"),
        None,
        SMS_IN_APP_DISPATCHER="false",
        UPLOAD_MAX_BYTES=str(1024 * 1024),
    )
    try:
        yield app.start(60)
    finally:
        app.stop()


def test_a_file_over_the_limit_gets_the_form_again_with_the_reason(
    browser, small_limit_app, tmp_path
):
    """Under gunicorn, as deployed (tests/e2e/test_uploads.py holds the same for a client
    that sends the whole body before it reads)."""
    _, name = add_template(small_limit_app, "Dear ((name)).")
    big = tmp_path / "everyone.csv"
    big.write_bytes(b"phone,name\r\n" + b"91234567,Ann\r\n" * 250_000)  # 3.5 MB
    for page in open_tab(browser, small_limit_app, viewport={"width": 1280, "height": 860}):
        log_in(page)
        page.goto("/send/upload")
        page.get_by_label("Template").select_option(label=name)
        page.get_by_label("File of recipients").set_input_files(str(big))
        page.get_by_role("button", name="Upload and check").click()
        expect()(page.locator("#error-summary")).to_contain_text(
            "File: the file is larger than 1 MB (3.3 MB)"
        )
        expect()(page.get_by_label("File of recipients")).to_be_visible()
