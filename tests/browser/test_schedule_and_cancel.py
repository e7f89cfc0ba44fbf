"""In a real browser: schedule a message from /compose, see it waiting, cancel it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from smspanel.hktime import HKT
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import expect, send_from_compose


def test_schedule_from_compose_then_cancel_from_the_message_page(page, gateway):
    log_in(page)
    tomorrow_nine = (datetime.now(UTC).astimezone(HKT) + timedelta(days=1)).replace(
        hour=9, minute=0
    )
    message_id = send_from_compose(
        page,
        "9123 4567\n6123 4567\n5123 4567",
        "Flu vaccination day: Saturday 9:00, Hall B",
        fields={"Send at": tomorrow_nine.strftime("%Y-%m-%dT%H:%M")},
    )

    expect()(page.locator("h1 .status")).to_have_text(re.compile("Scheduled"))
    expect()(page.locator(".flash-success")).to_contain_text(
        f"scheduled for {tomorrow_nine:%Y-%m-%d} 09:00 HKT"
    )
    expect()(page.locator(".notice").first).to_contain_text(
        f"Scheduled for {tomorrow_nine:%Y-%m-%d} 09:00 HKT. Nothing is sent before then."
    )
    screenshot(page, "message-scheduled")

    page.goto("/")
    upcoming = page.get_by_role("region", name=re.compile("Scheduled to send"))
    expect()(upcoming.get_by_role("link", name=f"#{message_id}")).to_be_visible()

    page.goto(f"/history/{message_id}")
    page.get_by_role("button", name="Cancel this scheduled message").click()
    expect()(page.locator(".flash-success")).to_contain_text(
        "cancelled: 3 recipients will not be sent"
    )
    expect()(page.locator("h1 .status")).to_have_text(re.compile("Cancelled"))
    expect()(page.locator("table.recipients tbody tr .status-cancelled")).to_have_count(3)
    expect()(page.get_by_role("button", name=re.compile("Cancel"))).to_have_count(0)
    screenshot(page, "message-cancelled")
    numbers = {m["mrt"] for m in gateway.received(messages=True)["messages"]}
    assert "85251234567" not in numbers, "a cancelled number never reached the gateway"
