"""In a real browser: "Download CSV" saves a file a spreadsheet can open, with every row."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loopback import http
from tests.browser.conftest import log_in


def saved_rows(download) -> list[list[str]]:
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so Excel shows Chinese"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_download_csv_from_a_messages_page(page, live_app):
    token = live_app.token()
    phones = [f"6{n:03d}4567" for n in range(120)]
    # Scheduled, so its 120 recipients do not hold up the shared gateway for other tests.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, answer = http(
        "POST",
        f"{live_app.base}/api/sms/send-bulk",
        {
            "recipients": phones,
            "content": "颱風信號 Typhoon signal 8: offices close at 15:00",
            "scheduled_at": later,
        },
        token,
    )
    assert status == 202, answer
    message_id = answer["data"]["id"]
    log_in(page)
    page.goto(f"/history/{message_id}")
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download CSV").click()
    download = caught.value
    assert download.suggested_filename == f"message-{message_id}-recipients.csv"
    rows = saved_rows(download)
    assert rows[0] == ["phone", "status", "skip_reason", "attempts", "sent_at_hkt", "error_message"]
    assert [row[0] for row in rows[1:]] == phones, "every recipient, beyond the page's 50"


def test_download_csv_from_history_keeps_the_filter(page, live_app):
    token = live_app.token()
    for content in ("Export check: 明日停水 water off", "Export chuck: meeting moved"):
        status, answer = http(
            "POST",
            f"{live_app.base}/api/sms",
            {"recipient": "6123 4567", "content": content},
            token,
        )
        assert status == 202, answer
    log_in(page)
    page.goto("/history")
    page.get_by_label("Search").fill("export check")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**search=*")
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download CSV").click()
    rows = saved_rows(caught.value)
    assert caught.value.suggested_filename.startswith("messages-")
    assert rows[0][-1] == "content"
    assert [row[-1] for row in rows[1:]] == ["Export check: 明日停水 water off"]
