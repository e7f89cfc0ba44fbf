"""Idempotent sends: one key, one message, one answer, for 24 hours."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import func, select

from smspanel.models import IdempotentRequest, Message, db, utcnow
from smspanel.services import idempotency
from smspanel.services.idempotency import Answer, KeyReused, answer_once, fingerprint, read_key
from smspanel.services.sending import accept_send

PRINT = fingerprint("POST", "/api/sms", b'{"recipient": "91234567", "content": "Hi"}')


def messages(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def sending(user_id, phone="91234567", status=202):
    """The work of a send: queue it, and answer with its id (or refuse with `status`)."""

    def work() -> Answer:
        if status >= 400:
            accept_send(db.session, user_id, [phone], "stored, then rolled back")
            return Answer(status, json.dumps({"error": {"code": "REFUSED"}}))
        sent = accept_send(db.session, user_id, [phone], "Hi")
        return Answer(status, json.dumps({"data": {"id": sent.id}}))

    return work


@pytest.mark.parametrize(
    "key", ["a", "k" * 255, "order-2026-12-01/#42", "550e8400-e29b-41d4-a716-446655440000"]
)
def test_keys_are_one_to_255_printable_ascii_characters(key):
    assert read_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("k" * 256, "at most 255"),
        ("tab\there", "printable ASCII"),
        ("new\nline", "printable ASCII"),
        ("訂單", "printable ASCII"),
        ("\x7f", "printable ASCII"),
    ],
)
def test_other_keys_are_refused_saying_why(key, problem):
    with pytest.raises(idempotency.InvalidKey, match=problem):
        read_key(key)


def test_the_same_json_in_another_order_or_spacing_is_the_same_request():
    again = fingerprint("POST", "/api/sms", b'{"content":"Hi","recipient":"91234567"}')
    assert again == PRINT
    assert fingerprint("POST", "/api/sms", b'{"recipient": "91234567", "content": "Hi!"}') != PRINT
    assert (
        fingerprint("POST", "/api/sms/send-bulk", b'{"recipient": "91234567", "content": "Hi"}')
        != PRINT
    )


def test_a_repeated_key_replays_the_first_answer_and_stores_nothing_new(app, make):
    alice = make.user("alice")
    with app.app_context():
        first = answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id))
        again = answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id, "92345678"))
    assert (first.status_code, first.replayed) == (202, False)
    assert (again.status_code, again.body, again.replayed) == (202, first.body, True)
    assert messages(app) == 1


def test_the_key_with_another_body_is_refused_and_stores_nothing(app, make):
    alice = make.user("alice")
    other = fingerprint("POST", "/api/sms", b'{"recipient": "92345678", "content": "Hi"}')
    with app.app_context():
        answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id))
        with pytest.raises(KeyReused):
            answer_once(db.session, alice.id, "k1", other, sending(alice.id, "92345678"))
    assert messages(app) == 1


def test_keys_belong_to_their_user(app, make):
    alice, bob = make.user("alice"), make.user("bob")
    with app.app_context():
        answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id))
        theirs = answer_once(db.session, bob.id, "k1", PRINT, sending(bob.id))
    assert not theirs.replayed
    assert messages(app) == 2


def test_a_refused_send_is_not_remembered_and_what_it_did_is_undone(app, make):
    alice = make.user("alice")
    with app.app_context():
        refused = answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id, status=400))
        assert refused.status_code == 400
        assert messages(app) == 0  # the work's insert was rolled back with the key
        retried = answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id))
    assert (retried.status_code, retried.replayed) == (202, False)
    assert messages(app) == 1


def test_a_key_past_its_day_is_free_again(app, make):
    alice = make.user("alice")
    day_ago = utcnow() - timedelta(hours=24, seconds=1)
    with app.app_context():
        answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id), now=day_ago)
        fresh = answer_once(db.session, alice.id, "k1", PRINT, sending(alice.id, "92345678"))
        assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1
    assert not fresh.replayed
    assert messages(app) == 2


def test_expired_keys_are_purged(app, make):
    alice = make.user("alice")
    with app.app_context():
        answer_once(
            db.session, alice.id, "old", PRINT, sending(alice.id), now=utcnow() - timedelta(days=2)
        )
        answer_once(db.session, alice.id, "new", PRINT, sending(alice.id, "92345678"))
        assert idempotency.purge_expired_keys(db.session, utcnow()) == 1
        assert db.session.scalars(select(IdempotentRequest.key)).all() == ["new"]


def test_twins_racing_store_exactly_one_message_and_give_one_answer(app, make):
    """Threads with their own sessions (connections) send the same key at once: one
    stores, every other waits for it and replays its answer, on every database."""
    alice = make.user("alice")
    twins = 6
    start_together = Barrier(twins)

    def send(_n: int) -> Answer:
        with app.app_context():
            start_together.wait(10)
            try:
                return answer_once(db.session, alice.id, "race", PRINT, sending(alice.id))
            finally:
                db.session.remove()

    with ThreadPoolExecutor(twins) as pool:
        answers = [
            done.result(timeout=120) for done in [pool.submit(send, n) for n in range(twins)]
        ]
    assert messages(app) == 1
    assert len({a.body for a in answers}) == 1
    assert sorted(a.replayed for a in answers) == [False] + [True] * (twins - 1)
