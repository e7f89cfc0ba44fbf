"""In a real browser: an admin makes a department, sets its limits, puts a viewer in it; the
viewer reads the department's messages and is offered no way to send."""

from __future__ import annotations

import re

from tests.browser.conftest import log_in, screenshot

PASSWORD = "viewer password 1"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_an_admin_sets_up_a_department_and_its_viewer_only_reads(page, browser, live_app):
    log_in(page)
    page.get_by_role("link", name="Departments").click()
    page.get_by_label("Name").fill("School office")
    page.get_by_role("button", name="Create department").click()
    expect()(page.locator(".flash-success")).to_contain_text("Created department School office.")
    page.get_by_label("Approval threshold").fill("-1")
    page.get_by_role("button", name="Save limits").click()
    expect()(page.locator("#approval_threshold-errors")).to_contain_text("whole number")
    page.get_by_label("Monthly segment quota").fill("20000")
    page.get_by_label("Approval threshold").fill("500")
    page.get_by_role("button", name="Save limits").click()
    expect()(page.locator(".flash-success")).to_contain_text("Saved the limits")
    screenshot(page, "admin-department")

    page.goto("/admin/users/create")
    page.get_by_label("Username").fill("teacher1")
    page.locator("#password").fill(PASSWORD)
    page.locator("#confirm_password").fill(PASSWORD)
    page.get_by_label("Department").select_option(label="School office")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create user").click()
    expect()(page.locator(".flash-success")).to_contain_text("Created user teacher1.")
    row = page.locator("tr", has_text="teacher1")
    expect()(row).to_contain_text("School office")
    expect()(row).to_contain_text("Viewer")
    page.goto("/admin/departments")
    expect()(page.locator("tr", has_text="School office")).to_contain_text("500 recipients")
    screenshot(page, "admin-departments")

    context = browser.new_context(base_url=live_app.base)
    try:
        viewer = context.new_page()
        log_in(viewer, "teacher1", PASSWORD)
        expect()(viewer.locator("[data-viewer-notice]")).to_contain_text("Your role is viewer")
        expect()(viewer.get_by_role("link", name="Compose")).to_have_count(0)
        viewer.goto("/compose")
        expect()(viewer.locator("main")).to_contain_text("you can read messages but not send")
        viewer.goto("/history")
        expect()(viewer).to_have_url(re.compile(r"/history$"))
    finally:
        context.close()
