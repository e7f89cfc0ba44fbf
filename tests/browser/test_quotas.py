"""In a real browser: compose shows the department's month and, as numbers are typed, what
the send would take and whether it still fits; a send past the quota is refused with its
figures.

The department and its member are put straight into the running app's database (their
admin pages are not part of this test), with a name of their own: the app is shared.
"""

from __future__ import annotations

import secrets

from sqlalchemy import create_engine, insert

from smspanel.models import Department, User, utcnow
from smspanel.services.passwords import hash_password
from tests.browser.conftest import log_in

PASSWORD = "a long browser password 1"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def member_of_a_department(live_app, quota: int) -> str:
    suffix = secrets.token_hex(3)
    engine = create_engine(live_app.database_url)
    try:
        with engine.begin() as connection:
            department_id = connection.execute(
                insert(Department.__table__),
                {
                    "name": f"Schools {suffix}",
                    "monthly_segment_quota": quota,
                    "created_at": utcnow(),
                },
            ).inserted_primary_key[0]
            connection.execute(
                insert(User.__table__),
                {
                    "username": f"teacher{suffix}",
                    "password_hash": hash_password(PASSWORD),
                    "is_admin": False,
                    "is_active": True,
                    "created_at": utcnow(),
                    "department_id": department_id,
                    "role": "sender",
                },
            )
    finally:
        engine.dispose()
    return f"teacher{suffix}"


def test_compose_says_live_what_the_send_takes_of_the_quota(page, live_app):
    username = member_of_a_department(live_app, quota=3)
    log_in(page, username, PASSWORD)
    page.goto("/compose")
    usage = page.locator("[data-quota-usage]")
    expect()(usage).to_contain_text("Used 0 of 3 SMS segments this month")
    needed = usage.locator("[data-quota-needed]")
    over = usage.locator("[data-quota-over]")
    expect()(needed).to_be_hidden()

    page.locator("#content").fill("Water off tomorrow")
    page.locator("#recipients").fill("9123 4567\n6123 4567")
    expect()(needed).to_have_text("This send takes 2.")
    expect()(over).to_be_hidden()
    page.locator("#recipients").fill("9123 4567\n6123 4567\n6123 4568\n6123 4569")
    expect()(needed).to_have_text("This send takes 4.")
    expect()(over).to_be_visible()

    page.get_by_label("Enquiry number").fill("2833 1234")
    page.get_by_role("button", name="Send SMS").click()
    summary = page.locator("#error-summary")
    expect()(summary).to_contain_text("This send needs 4 SMS segments")
    expect()(summary).to_contain_text("used 0 of its monthly quota of 3 (3 left)")
