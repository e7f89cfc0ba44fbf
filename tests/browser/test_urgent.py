"""In a real browser: a send ticked urgent on /compose is stored urgent, its page says so,
and it reaches the gateway."""

from __future__ import annotations

import re

from tests.browser.conftest import log_in
from tests.browser.test_pages import DELIVERY_TIMEOUT_MS, expect, send_from_compose


def test_an_urgent_send_from_compose_says_so_and_goes(page, gateway):
    log_in(page)
    send_from_compose(
        page, "9123 7654", "Typhoon signal 8: schools closed today", ticked=[re.compile("^Urgent")]
    )

    expect()(page.locator('[data-priority="urgent"]')).to_be_visible()
    expect()(page.locator("main")).to_contain_text("sent before every queued normal message")
    expect()(page.locator("h1 .status")).to_have_text(
        re.compile("Sent"), timeout=DELIVERY_TIMEOUT_MS
    )
    sent = [m for m in gateway.received(messages=True)["messages"] if m["mrt"] == "85291237654"]
    assert sent and sent[-1]["msg_utf8"].startswith("Typhoon signal 8")
