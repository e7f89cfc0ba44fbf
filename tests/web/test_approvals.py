"""/approvals on the web: approvers and admins see the waiting sends and decide; the badge
in the navigation counts them; a message's page says where its approval stands."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from smspanel.models import Department, Message, db, utcnow
from smspanel.services.sending import accept_send
from tests.campaign_helpers import make_template, recipient_statuses
from tests.queries import recorded_statements
from tests.web.conftest import login, page_text

NUMBERS = ["91234567", "98765432", "61234567"]
TEXT = "颱風信號八號：全港學校停課 Typhoon signal 8: all schools closed"


@pytest.fixture
def unit(make) -> Department:
    return make.department("Education", threshold=3)


@pytest.fixture
def maker(make, unit):
    return make.user("maker", department=unit)


@pytest.fixture
def checker(make, unit):
    return make.user("checker", department=unit, role="approver")


def waiting(app, user, numbers=NUMBERS, scheduled_at=None) -> int:
    with app.app_context():
        accepted = accept_send(db.session, user.id, numbers, TEXT, scheduled_at)
        assert accepted.status == "awaiting_approval"
        return accepted.id


def change(app, message_id: int, **values) -> None:
    """Set a stored message's columns: times it would take hours of waiting to reach."""
    with app.app_context():
        db.session.execute(update(Message).where(Message.id == message_id).values(**values))
        db.session.commit()


def stored(app, message_id: int) -> Message:
    with app.app_context():
        message = db.session.get(Message, message_id)
        db.session.expunge(message)
        return message


def badge(response) -> str | None:
    found = re.search(r'data-approvals-waiting="(\d+)"', response.get_data(as_text=True))
    return found.group(1) if found else None


def test_approvers_see_each_waiting_send_in_full(app, client, maker, checker):
    numbers = [f"9{n:07d}" for n in range(11)] + ["21234567"]
    message_id = waiting(app, maker, numbers, scheduled_at=utcnow() + timedelta(hours=5))
    login(client, "checker")
    response = client.get("/approvals")
    assert response.status_code == 200
    text = page_text(response)
    assert TEXT in text and "maker" in text
    body = response.get_data(as_text=True)
    assert f'data-approval-id="{message_id}"' in body
    assert re.search(r"data-recipient-count>12<", body)
    assert re.search(r"data-skipped-count>1 ", body) and "fixed line: 1" in text
    assert "1 per recipient; 11 in total" in text
    assert all(f"{n[:4]} {n[4:]}" in text for n in numbers[:10])
    assert "9000 0010" not in text and "and 2 more" in text
    assert "Scheduled for" in text and "stale" not in text
    assert 'name="reason"' in body and f"/approvals/{message_id}/approve" in body


def test_a_send_waiting_more_than_a_day_is_marked_stale(app, client, maker, checker):
    message_id = waiting(app, maker)
    change(app, message_id, created_at=utcnow() - timedelta(hours=25))
    login(client, "checker")
    response = client.get("/approvals")
    assert "data-stale" in response.get_data(as_text=True)
    assert "stale: waiting more than 24 hours" in page_text(response)


@pytest.mark.parametrize("role", ["sender", "viewer"])
def test_senders_and_viewers_get_403_and_no_badge(app, client, make, unit, role):
    make.user("someone", department=unit, role=role)
    login(client, "someone")
    response = client.get("/approvals")
    assert response.status_code == 403
    assert "Only approvers and administrators" in page_text(response)
    assert client.post("/approvals/1/approve").status_code == 403
    assert client.post("/approvals/1/reject", data={"reason": "x"}).status_code == 403
    assert badge(client.get("/compose")) is None


def test_a_user_without_a_department_gets_403(client, make):
    make.user("loner")
    login(client, "loner")
    assert client.get("/approvals").status_code == 403


def test_the_badge_counts_what_waits_for_the_reader_with_one_query(
    app, client, make, maker, checker
):
    waiting(app, maker)
    waiting(app, maker)
    waiting(app, checker)  # their own: listed, not counted for them
    sender = make.user("plain", department=maker.department_id)
    login(client, sender.username)
    with recorded_statements(app) as as_sender:
        assert client.get("/compose").status_code == 200
    client.post("/logout")
    login(client, "checker")
    with recorded_statements(app) as as_checker:
        page = client.get("/compose")
    assert badge(page) == "2"
    assert len(as_checker) == len(as_sender) + 1  # one COUNT, only for those who approve
    make.user("boss", is_admin=True)
    client.post("/logout")
    login(client, "boss")
    assert badge(client.get("/")) == "3"


def test_approving_queues_the_send_and_says_so(app, client, make, maker, checker):
    message_id = waiting(app, maker)
    login(client, "checker")
    response = client.post(f"/approvals/{message_id}/approve")
    assert (response.status_code, response.location) == (302, "/approvals")
    page = client.get("/approvals")
    assert f"Message #{message_id} approved: it is being sent now." in page_text(page)
    assert "No sends are waiting for approval." in page_text(page)
    message = stored(app, message_id)
    assert (message.status, message.decided_by_name) == ("pending", "checker")
    make.deliver()
    assert stored(app, message_id).status == "sent"


def test_approving_a_scheduled_send_keeps_its_time(app, client, maker, checker):
    message_id = waiting(app, maker, scheduled_at=utcnow() + timedelta(hours=2))
    login(client, "checker")
    client.post(f"/approvals/{message_id}/approve")
    assert "approved: it is scheduled for" in page_text(client.get("/approvals"))
    assert stored(app, message_id).status == "scheduled"


def test_rejecting_needs_a_reason_and_changes_nothing_without_one(app, client, maker, checker):
    message_id = waiting(app, maker)
    login(client, "checker")
    response = client.post(f"/approvals/{message_id}/reject", data={"reason": "   "})
    assert response.status_code == 422
    assert "give the reason for rejecting the send" in page_text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert stored(app, message_id).status == "awaiting_approval"
    too_long = client.post(f"/approvals/{message_id}/reject", data={"reason": "x" * 501})
    assert too_long.status_code == 422 and "at most 500 characters" in page_text(too_long)

    response = client.post(f"/approvals/{message_id}/reject", data={"reason": "Wrong date"})
    assert response.status_code == 302
    assert "rejected: nothing will be sent" in page_text(client.get("/approvals"))
    message = stored(app, message_id)
    assert (message.status, message.rejection_reason) == ("rejected", "Wrong date")
    with app.app_context():
        assert recipient_statuses(db.session, message_id) == {"cancelled": 3}


def test_the_maker_gets_403_whatever_their_role(app, client, make, unit):
    own = make.user("selfie", department=unit, role="approver", is_admin=True)
    message_id = waiting(app, own)
    login(client, "selfie")
    page = client.get("/approvals")
    assert "You made this send" in page_text(page)
    assert f"/approvals/{message_id}/approve" not in page.get_data(as_text=True)
    for path, data in (("approve", {}), ("reject", {"reason": "mine"})):
        response = client.post(f"/approvals/{message_id}/{path}", data=data)
        assert response.status_code == 403
        assert "another approver must approve or reject it" in page_text(response)
    assert stored(app, message_id).status == "awaiting_approval"


def test_another_departments_send_is_404_for_its_approvers(app, client, make, maker):
    make.user("stranger", department=make.department(), role="approver")
    message_id = waiting(app, maker)
    login(client, "stranger")
    page = client.get("/approvals")
    assert "data-approval-id" not in page.get_data(as_text=True)
    assert "No sends are waiting" in page_text(page)
    assert client.post(f"/approvals/{message_id}/approve").status_code == 404
    assert client.post(f"/approvals/{message_id}/reject", data={"reason": "no"}).status_code == 404
    assert stored(app, message_id).status == "awaiting_approval"


def test_a_second_approval_is_told_the_send_no_longer_waits(app, client, make, maker, checker):
    message_id = waiting(app, maker)
    login(client, "checker")
    client.post(f"/approvals/{message_id}/approve")
    response = client.post(f"/approvals/{message_id}/approve", follow_redirects=True)
    assert response.status_code == 200
    assert f"Message #{message_id} is not awaiting approval (it is pending)" in page_text(response)


def test_the_makers_compose_says_it_awaits_approval_and_its_page_follows_it(
    app, client, maker, checker
):
    login(client, "maker")
    response = client.post(
        "/compose",
        data={
            "recipients": "\n".join(NUMBERS),
            "content": "Flu jabs",
            "enquiry_number": "2833 1234",
        },
        follow_redirects=True,
    )
    text = page_text(response)
    assert "awaits approval: nothing is sent until an approver of your department" in text
    message_id = int(re.search(r"Message #(\d+)", text).group(1))
    assert "Awaiting approval" in text and "Withdraw this send" in text
    client.post("/logout")
    login(client, "checker")
    client.post(f"/approvals/{message_id}/reject", data={"reason": "Send it tomorrow"})
    client.post("/logout")
    login(client, "maker")
    page = page_text(client.get(f"/history/{message_id}"))
    assert re.search(r"Rejected by checker .*: Send it tomorrow", page)
    assert "Withdraw this send" not in page


def test_an_approved_message_names_its_approver(app, client, maker, checker):
    message_id = waiting(app, maker)
    login(client, "checker")
    client.post(f"/approvals/{message_id}/approve")
    client.post("/logout")
    login(client, "maker")
    assert "Approved by checker" in page_text(client.get(f"/history/{message_id}"))


def test_the_maker_can_withdraw_a_waiting_send(app, client, maker):
    message_id = waiting(app, maker)
    login(client, "maker")
    response = client.post(f"/history/{message_id}/cancel", follow_redirects=True)
    assert "cancelled: 3 recipients will not be sent" in page_text(response)
    assert stored(app, message_id).status == "cancelled"


@pytest.mark.parametrize("who", ["checker", "admin"])
def test_only_the_maker_can_cancel_a_waiting_send_the_others_reject_it(
    app, client, make, maker, checker, who
):
    if who == "admin":
        make.user("admin", is_admin=True)
    message_id = waiting(app, maker)
    login(client, who)
    page = client.get(f"/history/{message_id}")
    assert page.status_code == 200
    assert f"/history/{message_id}/cancel" not in page.get_data(as_text=True)
    refused = client.post(f"/history/{message_id}/cancel")
    assert refused.status_code == 403
    assert "reject it with a reason" in page_text(refused)
    assert stored(app, message_id).status == "awaiting_approval"


def test_a_send_from_a_file_waits_too(app, client, maker):
    template_id = None
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name)), school is closed.")
    login(client, "maker")
    rows = "phone,name\r\n" + "".join(f"{n},P{i}\r\n" for i, n in enumerate(NUMBERS))
    uploaded = client.post(
        "/send/upload",
        data={"template_id": str(template_id), "file": (io.BytesIO(rows.encode()), "a.csv")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302
    sent = client.post(
        uploaded.location, data={"enquiry_number": "2833 1234"}, follow_redirects=True
    )
    assert "awaits approval" in page_text(sent)
    with app.app_context():
        [status] = db.session.scalars(db.select(Message.status)).all()
    assert status == "awaiting_approval"


def test_the_forms_carry_and_need_their_csrf_token(app, client, maker, checker):
    message_id = waiting(app, maker)
    login(client, "checker")
    app.config["WTF_CSRF_ENABLED"] = True
    for path, data in (("approve", {}), ("reject", {"reason": "Wrong list"})):
        assert client.post(f"/approvals/{message_id}/{path}", data=data).status_code == 400
    assert stored(app, message_id).status == "awaiting_approval"
    body = client.get("/approvals").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    response = client.post(f"/approvals/{message_id}/approve", data={"csrf_token": token})
    assert response.status_code == 302
    assert stored(app, message_id).status == "pending"


def test_approved_after_its_time_its_page_shows_it_started_late(app, client, maker, checker):
    message_id = waiting(app, maker, scheduled_at=utcnow() + timedelta(hours=1))
    change(app, message_id, scheduled_at=utcnow() - timedelta(minutes=20))
    login(client, "checker")
    assert "time passed: goes at once if approved" in page_text(client.get("/approvals"))
    client.post(f"/approvals/{message_id}/approve")
    assert "shown as late" in page_text(client.get("/approvals"))
    client.post("/logout")
    login(client, "maker")
    page = page_text(client.get(f"/history/{message_id}"))
    assert "Started late: it was scheduled for" in page and "Approved by checker" in page
