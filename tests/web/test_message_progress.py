"""A message's live progress (/history/<id>/progress.json): what the page's script reads to
update itself in place, behind the page's own login and reader's scope."""

from __future__ import annotations

import re

from tests.web.conftest import deliver, login

ZH = {"Accept-Language": "zh-HK"}


def recipient_ids(client, message_id: int) -> list[str]:
    html = client.get(f"/history/{message_id}").get_data(as_text=True)
    return re.findall(r'data-recipient-id="(\d+)"', html)


def progress(client, message_id: int, ids: list[str], **headers):
    return client.get(
        f"/history/{message_id}/progress.json", query_string={"ids": ",".join(ids)}, headers=headers
    )


def test_a_pending_message_then_its_final_sentence(app, user_client, make, user):
    message_id = make.message(user, ["11112222", "33334444"], "Lift maintenance")
    ids = recipient_ids(user_client, message_id)
    assert len(ids) == 2

    pending = progress(user_client, message_id, ids).get_json()
    assert pending["final"] is False and pending["announcement"] is None
    assert pending["status"] == {"status": "pending", "icon": "○", "label": "Pending"}
    assert pending["counts"] == {
        "recipients": 2,
        "sent": 0,
        "failed": 0,
        "pending": 2,
        "skipped": 0,
        "cancelled": 0,
    }
    assert pending["text"] == "Still sending: 2 of 2 recipients pending."
    assert pending["completed_at"] is None
    assert [r["id"] for r in pending["recipients"]] == [int(i) for i in ids]
    assert all(r["status"]["label"] == "Pending" for r in pending["recipients"])

    deliver(app, failing={"33334444"})
    done = progress(user_client, message_id, ids).get_json()
    assert done["final"] is True
    assert done["status"] == {"status": "partial", "icon": "◐", "label": "Partial"}
    assert done["announcement"] == "All recipients done: 1 sent, 1 failed."
    assert done["text"] == done["announcement"]
    sent, failed = done["recipients"]
    assert sent["state"] == "sent:1" and sent["status"]["label"] == "Sent"
    assert sent["skip_reason"] is None and sent["error"] == "—" and sent["attempts"] == 1
    assert failed["error"] == "gateway answered HTTP 401: Unauthorized"
    assert failed["sent_at"] is None
    # The times are the page's own: a reload shows the same <time> elements.
    page = user_client.get(f"/history/{message_id}").get_data(as_text=True)
    for moment in (sent["sent_at"], done["completed_at"]):
        assert f'<time datetime="{moment["iso"]}">{moment["text"]}</time>' in page
    assert moment["text"].endswith("HKT")


def test_a_skipped_recipient_comes_with_its_reason(app, user_client, make, user):
    message_id = make.message(user, ["21234567", "91234567"])  # a fixed line is skipped
    answer = progress(user_client, message_id, recipient_ids(user_client, message_id)).get_json()
    skipped = [r for r in answer["recipients"] if r["status"]["status"] == "skipped"]
    assert [(r["skip_reason"], r["skip_label"]) for r in skipped] == [("fixed_line", "fixed line")]


def test_the_final_sentence_names_skipped_and_cancelled_only_when_there_are_some(
    app, user_client, make, user
):
    message_id = make.message(user, ["11112222", "55556666", "97778888"])
    assert user_client.post(f"/history/{message_id}/cancel").status_code == 302
    answer = progress(user_client, message_id, []).get_json()
    assert answer["final"] is True and answer["recipients"] == []
    assert answer["announcement"] == "All recipients done: 0 sent, 0 failed, 3 cancelled."


def test_the_final_sentence_in_chinese(app, user_client, make, user):
    message_id = make.message(user, ["11112222", "33334444"])
    deliver(app, failing={"33334444"})
    answer = progress(user_client, message_id, [], **ZH).get_json()
    assert answer["announcement"] == "全部收件人已完成：已發送 1 個、失敗 1 個。"
    assert answer["status"]["label"] == "部分發送"
    pending_id = make.message(user, ["55556666"])
    assert progress(user_client, pending_id, [], **ZH).get_json()["text"] == (
        "發送中：1 位收件人中有 1 位等候中。"
    )


def test_another_users_message_is_not_found(app, client, make, user):
    other = make.user("bob")
    message_id = make.message(other, ["11112222"], "Bob's notice")
    login(client, user.username)
    response = progress(client, message_id, [])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert "Bob" not in response.get_data(as_text=True)
    assert progress(client, 999_999, []).status_code == 404


def test_the_department_and_admins_read_it_as_they_read_the_page(app, client, make):
    department = make.department("Housing")
    maker = make.user("maker", department=department)
    colleague = make.user("colleague", department=department)
    make.user("boss", is_admin=True)
    message_id = make.message(maker, ["11112222"])
    for reader in (colleague.username, "boss"):
        login(client, reader)
        assert progress(client, message_id, []).status_code == 200
        assert client.get(f"/history/{message_id}").status_code == 200
        client.post("/logout")


def test_only_the_messages_own_recipients_are_answered(app, user_client, make, user):
    first = make.message(user, ["11112222"])
    second = make.message(user, ["33334444"])
    others = recipient_ids(user_client, second)
    answer = progress(user_client, first, others + recipient_ids(user_client, first)).get_json()
    assert [r["id"] for r in answer["recipients"]] == [int(recipient_ids(user_client, first)[0])]


def test_ids_that_are_not_numbers_are_refused_by_name(user_client, make, user):
    message_id = make.message(user, ["11112222"])
    response = progress(user_client, message_id, ["1", "x"])
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["message"].startswith("ids:")


def test_logged_out_it_sends_to_the_login_page(client, make, user):
    message_id = make.message(user, ["11112222"])
    response = progress(client, message_id, [])
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
