"""Queued work wakes an idle dispatcher at once, and only once it is committed."""

import time

import pytest

from smspanel.models import db
from smspanel.services.doorbell import DoorbellListener
from smspanel.services.sending import accept_send
from smspanel.services.transactions import transaction


@pytest.fixture
def listener(app):
    with app.app_context():
        listening = DoorbellListener.bind(db.engine)
    assert listening is not None
    yield listening
    listening.close()


def test_a_send_rings_once_committed(app, make, listener):
    user = make.user()
    assert not listener.wait(0)
    with app.app_context():
        accept_send(db.session, user.id, ["91234567"], "Notice")
    started = time.monotonic()
    assert listener.wait(2)
    assert time.monotonic() - started < 0.5
    assert not listener.wait(0)  # every ring so far was taken at once


def test_a_send_that_rolls_back_does_not_ring(app, make, listener):
    user = make.user()
    with app.app_context(), pytest.raises(RuntimeError), transaction(db.session):
        accept_send(db.session, user.id, ["91234567"], "Notice")
        raise RuntimeError("the enclosing use case failed")
    assert not listener.wait(0.2)


def test_the_listening_slots_are_limited_and_freed(app):
    with app.app_context():
        taken = [DoorbellListener.bind(db.engine) for _ in range(5)]
    assert all(taken[:4]) and taken[4] is None  # a fifth dispatcher polls instead
    taken[0].close()
    with app.app_context():
        again = DoorbellListener.bind(db.engine)
    assert again is not None
    for listening in [again, *taken[1:4]]:
        listening.close()
