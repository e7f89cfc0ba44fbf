"""In a real browser: write a template with the live counter and placeholder list, save it,
and see a delete refused while a scheduled message waits on it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from smspanel.hktime import HKT
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_csp import RECORD_VIOLATIONS


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def placeholders_listed(page):
    return page.locator("[data-placeholder-list] li")


def test_the_template_form_counts_lists_placeholders_and_saves(page):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.add_init_script(RECORD_VIOLATIONS)
    name = "Clinic reminder"
    log_in(page)
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="New template").click()
    expect()(page).to_have_url(re.compile(r"/templates/new$"))

    counter = page.locator("#content-counter")
    content = page.locator("#content")
    expect()(counter).to_contain_text("0 / 1000 characters")
    expect()(page.locator("[data-no-placeholders]")).to_be_visible()
    expect()(counter).to_contain_text("Personalised messages may be longer")

    content.press_sequentially("Dear ((name)), see you on ((date))")
    expect()(counter).to_contain_text("34 / 1000 characters")
    expect()(counter).to_contain_text("1 segment ·")
    expect()(counter).to_contain_text("GSM-7")
    expect()(placeholders_listed(page)).to_have_text(["((name))", "((date))"])
    expect()(page.locator("[data-no-placeholders]")).to_be_hidden()

    # The same name again, written another way, is listed once; Chinese switches to UCS-2.
    content.press_sequentially(" at ((Clinic_Name)) ((clinic name)) 診所")
    expect()(placeholders_listed(page)).to_have_text(["((name))", "((date))", "((Clinic_Name))"])
    expect()(counter).to_contain_text("UCS-2")
    content.fill("x" * 161)
    expect()(counter).to_contain_text("161 / 1000 characters")
    expect()(counter).to_contain_text("2 segments")
    expect()(page.locator("[data-no-placeholders]")).to_be_visible()

    # A refused save keeps what was typed and names the problem.
    page.locator("#name").fill(name)
    content.fill("Dear ((name, your visit is on ((date))")
    page.get_by_role("button", name="Save template").click()
    expect()(page.locator("#content-errors")).to_contain_text("'((' at position 6")
    expect()(page.locator("#error-summary")).to_be_focused()
    expect()(page.locator("#name")).to_have_value(name)
    expect()(placeholders_listed(page)).to_have_text(["((date))"])  # the script ran again
    screenshot(page, "template-errors")

    content.fill("Dear ((name)), your visit is on ((date)) at ((clinic)).")
    expect()(placeholders_listed(page)).to_have_text(["((name))", "((date))", "((clinic))"])
    screenshot(page, "template-form")
    page.get_by_role("button", name="Save template").click()
    expect()(page).to_have_url(re.compile(r"/templates$"))
    expect()(page.locator(".flash-success")).to_contain_text(f"Template “{name}” created.")
    row = page.locator(f'tr[data-template-name="{name}"]')  # other tests' names extend it
    expect()(row).to_contain_text("((name)) ((date)) ((clinic))")
    expect()(row).to_contain_text("HKT")
    template_id = int(row.get_attribute("id").rsplit("-", 1)[1])
    expect()(row.get_by_role("link", name="Send to a file of recipients")).to_have_attribute(
        "href", f"/send/upload?template_id={template_id}"
    )
    screenshot(page, "templates")
    assert page.evaluate("window.cspViolations") == [] and problems == []


def test_a_delete_is_refused_while_a_scheduled_send_waits_on_the_template(page, live_app):
    name = "Water notice"
    token = live_app.token()
    status, body = live_app.api(
        "POST", "/api/templates", {"name": name, "content": "((block)): water off"}, token
    )
    assert status == 201, body
    template_id = body["data"]["id"]
    when = (datetime.now(HKT) + timedelta(days=2)).replace(second=0, microsecond=0)
    status, body = live_app.api(
        "POST",
        "/api/sms/send-template",
        {
            "template_id": template_id,
            "recipients": [{"phone": "9123 4567", "personalisation": {"block": "Block A"}}],
            "scheduled_at": when.isoformat(),
        },
        token,
    )
    assert status == 202, body
    message_id = body["data"]["id"]

    log_in(page)
    page.goto(f"/templates/{template_id}/edit")
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete the template …?"
    page.get_by_role("button", name="Delete template").click()
    summary = page.locator("#error-summary")
    expect()(summary).to_contain_text(f"Template “{name}” was not deleted")
    expect()(summary).to_contain_text(f"scheduled for {when:%Y-%m-%d %H:%M} HKT")
    expect()(page.locator("#content")).to_have_value("((block)): water off")
    screenshot(page, "template-in-use")
    summary.get_by_role("link", name=f"Message #{message_id}").click()
    expect()(page).to_have_url(re.compile(rf"/history/{message_id}$"))

    status, _ = live_app.api("POST", f"/api/sms/{message_id}/cancel", None, token)
    assert status == 200
    page.goto("/templates")
    row = page.locator(f'tr[data-template-name="{name}"]')  # other tests' names extend it
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect()(page.locator(".flash-success")).to_contain_text(f"Template “{name}” deleted.")
    expect()(page.locator("tr", has_text=name)).to_have_count(0)
