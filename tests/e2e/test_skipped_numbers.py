"""End to end, real processes on loopback: which numbers of a send reach the gateway. The
app (`python run.py`, with its dispatcher) skips fixed lines, pagers, opted-out numbers and,
for a commercial send, numbers on the do-not-call register; it sends to numbers the plan
does not know, with a warning; and a number opted out after a scheduled send was accepted
is still not sent.

Runs on whichever database the suite targets (TEST_DATABASE_URL: MariaDB, PostgreSQL; else
SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import App
from tests.databases import bring_due
from tests.e2e.test_campaigns import wait_status

pytestmark = pytest.mark.e2e

MOBILES = ["91234567", "61234567", "51234567"]
FIXED_LINES = ["28331234", "31021234"]
PAGER = "77778888"
OPTED_OUT = "98765432"
ON_DNC_REGISTER = "63456789"
UNKNOWN = "40001234"  # not in the plan's data: sent, with a warning
WARNING = "not in Hong Kong's numbering plan data; sent anyway"
FINAL = {"sent", "partial", "failed"}


def opt_out(app: App, token: str, phone: str) -> None:
    body = {"phones": [phone], "reason": "replied STOP"}
    status, answer = app.api("POST", "/api/opt-outs", body, token)
    assert (status, answer["data"]["added"]) == (201, [phone]), answer


def recipients(app: App, token: str, message_id: int) -> dict[str, tuple[str, str | None]]:
    status, body = app.api("GET", f"/api/sms/{message_id}/recipients", token=token)
    assert status == 200, body
    return {r["phone"]: (r["status"], r["skip_reason"]) for r in body["data"]["recipients"]}


def test_a_commercial_send_reaches_only_numbers_that_may_get_it(app_process, mock, tmp_path):
    app = app_process
    token = app.token()
    opt_out(app, token, OPTED_OUT)
    register = tmp_path / "dnc_register.txt"
    register.write_text(f"Telephone\n{ON_DNC_REGISTER}\n")
    imported = app.flask("import-dnc", "--nice", "0", str(register))
    assert imported.returncode == 0, imported.stderr

    numbers = [MOBILES[0], *FIXED_LINES, PAGER, OPTED_OUT, MOBILES[1], ON_DNC_REGISTER]
    numbers += [UNKNOWN, MOBILES[2]]
    body = {"recipients": numbers, "content": "Sale at our Mong Kok shop", "commercial": True}
    status, sent = app.api("POST", "/api/sms/send-bulk", body, token)
    assert status == 202, sent
    data = sent["data"]
    assert (data["recipient_count"], data["skipped_count"]) == (9, 5)
    assert data["skipped"] == [
        {"phone": FIXED_LINES[0], "reason": "fixed_line"},
        {"phone": FIXED_LINES[1], "reason": "fixed_line"},
        {"phone": PAGER, "reason": "pager"},
        {"phone": OPTED_OUT, "reason": "opted_out"},
        {"phone": ON_DNC_REGISTER, "reason": "dnc_register"},
    ]
    assert data["warnings"] == [{"phone": UNKNOWN, "message": WARNING}]

    done = wait_status(app, token, data["id"], FINAL, 15)
    assert done["status"] == "sent"
    assert (done["success_count"], done["skipped_count"], done["pending_count"]) == (4, 5, 0)
    assert mock.received()["by_number"] == {f"852{n}": 1 for n in [*MOBILES, UNKNOWN]}
    assert recipients(app, token, data["id"]) == {
        **{n: ("sent", None) for n in [*MOBILES, UNKNOWN]},
        **{n: ("skipped", "fixed_line") for n in FIXED_LINES},
        PAGER: ("skipped", "pager"),
        OPTED_OUT: ("skipped", "opted_out"),
        ON_DNC_REGISTER: ("skipped", "dnc_register"),
    }


def test_a_number_opted_out_after_a_scheduled_send_was_accepted_is_not_sent(app_process, mock):
    app = app_process
    token = app.token()
    staying, leaving = MOBILES[0], OPTED_OUT
    at = (datetime.now(UTC) + timedelta(minutes=1, seconds=5)).isoformat()
    body = {"recipients": [staying, leaving], "content": "Clinic closed", "scheduled_at": at}
    status, sent = app.api("POST", "/api/sms/send-bulk", body, token)
    assert (status, sent["data"]["status"], sent["data"]["skipped"]) == (202, "scheduled", [])
    message_id = sent["data"]["id"]

    opt_out(app, token, leaving)
    bring_due(app.database_url, message_id, datetime.now(UTC))

    done = wait_status(app, token, message_id, FINAL, 15)
    assert done["status"] == "sent"
    assert (done["success_count"], done["skipped_count"], done["pending_count"]) == (1, 1, 0)
    assert mock.received()["by_number"] == {f"852{staying}": 1}
    assert recipients(app, token, message_id) == {
        staying: ("sent", None),
        leaving: ("skipped", "opted_out"),
    }
