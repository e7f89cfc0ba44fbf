"""A user's webhook: the URL and events checked and named, the secret made once and kept
until rotated, removal failing what still waits, deliveries listed newest first and resent
with their own event id; every change audited, never with the secret."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import func, select

from smspanel.models import AuditEvent, Webhook, WebhookDelivery, db, utcnow
from smspanel.services.webhooks.retry_window import RETRY_WINDOW
from smspanel.services.webhooks.subscriptions import (
    DeliveryNotFound,
    InvalidWebhook,
    WebhookNotFound,
    delete_webhook,
    get_webhook,
    recent_deliveries,
    resend,
    rotate_secret,
    set_webhook,
)
from tests.webhook_helpers import RECEIVER

BOTH = ["message.final", "recipient.final"]


pytestmark = pytest.mark.usefixtures("test_names_resolve")


def save(user_id: int, url: str = RECEIVER, events=("message.final",), **options):
    options.setdefault("allow_private", False)
    return set_webhook(db.session, user_id, url, list(events), **options)


def audit_rows() -> list[tuple[str, str, str]]:
    return [
        (e.action, e.target, e.detail)
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("webhook.%")).order_by(AuditEvent.id)
        )
    ]


def stored_secret(user_id: int) -> str:
    return db.session.scalar(select(Webhook.secret).where(Webhook.user_id == user_id))


def test_creating_a_webhook_makes_a_secret_given_once_and_audits_without_it(app, make):
    user = make.user()
    with app.app_context():
        saved = save(user.id, f"  {RECEIVER} ", ["recipient.final", "message.final"])
        assert saved.created
        assert saved.secret is not None and saved.secret.startswith("whsec_")
        assert len(saved.secret) > 40
        assert saved.webhook.url == RECEIVER  # trimmed
        assert saved.webhook.events == tuple(BOTH)  # in their fixed order
        assert stored_secret(user.id) == saved.secret
        stored = get_webhook(db.session, user.id)
        assert stored == saved.webhook
        assert stored.created_at == stored.updated_at == stored.secret_rotated_at
        assert audit_rows() == [
            (
                "webhook.create",
                f"webhook:user:{user.id}",
                f"url: {RECEIVER}; events: message.final, recipient.final",
            )
        ]


def test_changing_the_url_or_events_keeps_the_secret_unless_rotation_is_asked(app, make):
    user = make.user()
    with app.app_context():
        first = save(user.id)
        later = utcnow() + timedelta(minutes=5)
        changed = save(user.id, "https://hooks.example.com/v2", BOTH, now=later)
        assert not changed.created and changed.secret is None
        assert stored_secret(user.id) == first.secret
        assert changed.webhook.url == "https://hooks.example.com/v2"
        assert changed.webhook.events == tuple(BOTH)
        assert changed.webhook.updated_at == later
        assert changed.webhook.secret_rotated_at == first.webhook.secret_rotated_at

        rotated = save(user.id, rotate_secret=True, now=later + timedelta(minutes=1))
        assert rotated.secret is not None and rotated.secret != first.secret
        assert stored_secret(user.id) == rotated.secret
        assert rotated.webhook.secret_rotated_at == later + timedelta(minutes=1)
        assert [(action, detail) for action, _, detail in audit_rows()[1:]] == [
            (
                "webhook.update",
                "url: https://hooks.example.com/v2; events: message.final, recipient.final",
            ),
            ("webhook.update", f"url: {RECEIVER}; events: message.final; secret rotated"),
        ]


def test_rotating_gives_a_new_secret_once_and_needs_a_webhook(app, make):
    user = make.user()
    with app.app_context():
        with pytest.raises(WebhookNotFound, match="No webhook is set"):
            rotate_secret(db.session, user.id)
        first = save(user.id)
        rotated = rotate_secret(db.session, user.id)
        assert rotated.secret not in (None, first.secret)
        assert stored_secret(user.id) == rotated.secret
        assert rotated.webhook.url == RECEIVER
        assert audit_rows()[-1] == ("webhook.rotate_secret", f"webhook:user:{user.id}", "")


def test_no_audit_record_ever_holds_a_secret(app, make):
    user = make.user()
    with app.app_context():
        secrets = [save(user.id).secret, rotate_secret(db.session, user.id).secret]
        secrets.append(save(user.id, rotate_secret=True).secret)
        delete_webhook(db.session, user.id)
        rows = audit_rows()
        assert len(rows) == 4
        for secret in secrets:
            assert secret and all(secret not in " ".join(row) for row in rows)


@pytest.mark.parametrize(
    ("events", "says"),
    [
        ([], ["Choose at least one event."]),
        (
            ["message.sent"],
            ["“message.sent” is not an event; choose from message.final, recipient.final."],
        ),
        (
            ["message.final", "MESSAGE.FINAL", "message.final", "x\x00y"],
            [
                "“MESSAGE.FINAL” is not an event; choose from message.final, recipient.final.",
                "“x?y” is not an event; choose from message.final, recipient.final.",
            ],
        ),
    ],
)
def test_events_must_be_a_non_empty_choice_of_known_events_each_named(app, make, events, says):
    user = make.user()
    with app.app_context():
        with pytest.raises(InvalidWebhook) as refused:
            save(user.id, events=events)
        assert refused.value.errors == {"events": says}
        assert get_webhook(db.session, user.id) is None
        assert audit_rows() == []


def test_many_unknown_events_are_named_up_to_ten_then_counted(app, make):
    with app.app_context(), pytest.raises(InvalidWebhook) as refused:
        save(make.user().id, events=[f"e{n}" for n in range(13)])
    problems = refused.value.errors["events"]
    assert len(problems) == 11
    assert problems[-1] == "and 3 more values that are not events"


def test_repeated_events_count_once(app, make):
    with app.app_context():
        saved = save(make.user().id, events=["recipient.final", " recipient.final "])
        assert saved.webhook.events == ("recipient.final",)


def test_every_problem_of_the_url_and_the_events_is_named_at_once_and_nothing_stored(app, make):
    user = make.user()
    with app.app_context():
        with pytest.raises(InvalidWebhook) as refused:
            save(user.id, "ftp://hooks.example.com/x", events=["nope"])
        assert refused.value.errors == {
            "url": ["The URL must start with https://."],
            "events": ["“nope” is not an event; choose from message.final, recipient.final."],
        }
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0


@pytest.mark.parametrize(
    ("url", "allow_private", "says"),
    [
        ("http://hooks.example.com/x", False, "must use https://"),
        ("https://internal.example.com/x", False, "10.1.2.3 is this host or a private network"),
        ("https://169.254.169.254/latest", True, "link-local"),
        ("https://" + "a" * 1990 + ".example.com", False, "at most 2000 characters"),
    ],
)
def test_the_destination_rules_refuse_the_url(app, make, url, allow_private, says):
    user = make.user()
    with app.app_context():
        with pytest.raises(InvalidWebhook) as refused:
            save(user.id, url, allow_private=allow_private)
        assert list(refused.value.errors) == ["url"]
        assert says in refused.value.errors["url"][0]


def test_http_and_private_receivers_are_saved_when_the_panel_allows_them(app, make):
    user = make.user()
    with app.app_context():
        saved = save(user.id, "http://127.0.0.1:9000/hook", allow_private=True)
        assert saved.webhook.url == "http://127.0.0.1:9000/hook"
        saved = save(user.id, "http://internal.example.com/hook", allow_private=True)
        assert saved.webhook.url == "http://internal.example.com/hook"


def test_a_name_that_does_not_resolve_yet_is_saved(app, make):
    with app.app_context():
        saved = save(make.user().id, "https://not-deployed-yet.example.org/hook")
        assert saved.created


def test_removing_the_webhook_fails_its_pending_deliveries_only(app, make, add_delivery):
    user, other = make.user(), make.user()
    with app.app_context():
        save(user.id)
        save(other.id)
    pending = add_delivery(user.id, status="pending", lease_owner="w1", lease_until=utcnow())
    delivered = add_delivery(user.id, status="delivered", delivered_at=utcnow())
    others = add_delivery(other.id, status="pending")
    with app.app_context():
        assert delete_webhook(db.session, user.id) == 1
        assert get_webhook(db.session, user.id) is None
        assert get_webhook(db.session, other.id) is not None
        assert audit_rows()[-1] == (
            "webhook.delete",
            f"webhook:user:{user.id}",
            f"url: {RECEIVER}; 1 pending failed",
        )
        with pytest.raises(WebhookNotFound):
            delete_webhook(db.session, user.id)
    failed = add_delivery.row(pending)
    assert (failed.status, failed.last_error, failed.lease_owner) == (
        "failed",
        "webhook removed",
        None,
    )
    assert add_delivery.row(delivered).status == "delivered"
    assert add_delivery.row(others).status == "pending"


def test_recent_deliveries_are_the_users_own_newest_first_in_pages(app, make, add_delivery):
    user, other = make.user(), make.user()
    start = utcnow() - timedelta(hours=1)
    ids = [add_delivery(user.id, created_at=start + timedelta(minutes=n)) for n in range(5)]
    add_delivery(other.id)
    with app.app_context():
        first = recent_deliveries(db.session, user.id, limit=2)
        assert [d.id for d in first.items] == [ids[4], ids[3]]
        assert first.total == 5 and first.pages == 3
        last = recent_deliveries(db.session, user.id, limit=2, page=3)
        assert [d.id for d in last.items] == [ids[0]]
        assert recent_deliveries(db.session, make.user().id).items == []


def test_a_delivery_shows_how_it_went_and_a_next_attempt_only_while_pending(
    app, make, add_delivery
):
    user = make.user()
    created = utcnow() - timedelta(minutes=10)
    waiting = add_delivery(
        user.id,
        status="pending",
        event_type="recipient.final",
        created_at=created,
        message_id=42,
        recipient_count=1000,
        last_error="timed out after 10 s",
        last_status_code=None,
    )
    failed = add_delivery(user.id, status="failed", created_at=created - timedelta(minutes=1))
    with app.app_context():
        pending_view, failed_view = recent_deliveries(db.session, user.id).items
    assert pending_view.id == waiting
    assert pending_view.event_type == "recipient.final"
    assert (pending_view.message_id, pending_view.recipient_count) == (42, 1000)
    assert (pending_view.last_status_code, pending_view.last_error) == (
        None,
        "timed out after 10 s",
    )
    assert pending_view.next_attempt_at == created + timedelta(minutes=5)
    assert pending_view.created_at == created
    assert failed_view.id == failed
    assert (failed_view.status, failed_view.last_status_code) == ("failed", 500)
    assert failed_view.next_attempt_at is None


@pytest.mark.parametrize("status", ["failed", "delivered"])
def test_resend_makes_a_delivery_pending_now_with_a_new_window_and_the_same_event(
    app, make, add_delivery, status
):
    user = make.user()
    with app.app_context():
        save(user.id)
    old = utcnow() - timedelta(days=2)
    delivery_id = add_delivery(
        user.id,
        status=status,
        created_at=old,
        attempts=17,
        retry_until=old + RETRY_WINDOW,
        delivered_at=old if status == "delivered" else None,
        lease_owner="gone-worker",
        lease_until=old,
    )
    before = add_delivery.row(delivery_id)
    now = utcnow()
    with app.app_context():
        view = resend(db.session, user.id, delivery_id, now)
        assert audit_rows()[-1] == (
            "webhook.resend",
            f"webhook_delivery:{delivery_id}",
            f"event {before.event_id} (message.final)",
        )
    after = add_delivery.row(delivery_id)
    assert (after.status, after.attempts, after.delivered_at) == ("pending", 0, None)
    assert after.next_attempt_at == now
    assert after.retry_until == now + timedelta(hours=24)
    assert (after.event_id, after.payload) == (before.event_id, before.payload)
    assert (after.lease_owner, after.lease_until) == (None, None)
    assert after.created_at == old
    assert (view.id, view.status, view.next_attempt_at) == (delivery_id, "pending", now)


def test_resending_a_delivery_on_the_wire_leaves_its_lease_to_its_sender(app, make, add_delivery):
    user = make.user()
    with app.app_context():
        save(user.id)
    lease = utcnow() + timedelta(seconds=30)
    delivery_id = add_delivery(user.id, status="pending", lease_owner="w1", lease_until=lease)
    with app.app_context():
        resend(db.session, user.id, delivery_id)
    after = add_delivery.row(delivery_id)
    assert (after.status, after.lease_owner, after.lease_until) == ("pending", "w1", lease)


def test_resend_is_refused_for_another_users_delivery_and_without_a_webhook(
    app, make, add_delivery
):
    user, other = make.user(), make.user()
    with app.app_context():
        save(user.id)
    theirs = add_delivery(other.id)
    mine = add_delivery(user.id)
    with app.app_context():
        with pytest.raises(DeliveryNotFound, match=f"No webhook delivery {theirs}"):
            resend(db.session, user.id, theirs)
        with pytest.raises(DeliveryNotFound):
            resend(db.session, user.id, 2**62)
        delete_webhook(db.session, user.id)
        with pytest.raises(WebhookNotFound):
            resend(db.session, user.id, mine)
    assert add_delivery.row(theirs).status == "failed"
    assert add_delivery.row(mine).status == "failed"


def test_two_first_saves_at_once_make_one_webhook_and_one_secret(app, make):
    """Both succeed: one creates it (and gets the secret), the other changes it."""
    user = make.user()
    together = Barrier(2)

    def first_save(path: str):
        with app.app_context():
            together.wait(10)
            try:
                return save(user.id, f"{RECEIVER}/{path}")
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(first_save, ["a", "b"]))
    assert sorted(r.created for r in results) == [False, True]
    created = next(r for r in results if r.created)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 1
        assert stored_secret(user.id) == created.secret
        assert [action for action, _, _ in audit_rows()] == ["webhook.create", "webhook.update"]


def test_a_resend_racing_a_removal_leaves_nothing_pending(app, make, add_delivery):
    """The removal fails what is pending; a resend either comes first (and is then failed)
    or finds no webhook: never a pending delivery without a webhook."""
    user = make.user()
    with app.app_context():
        save(user.id)
    delivery_id = add_delivery(user.id)
    together = Barrier(2)

    def run(work: str) -> str:
        with app.app_context():
            together.wait(10)
            try:
                if work == "resend":
                    resend(db.session, user.id, delivery_id)
                else:
                    delete_webhook(db.session, user.id)
            except WebhookNotFound:
                return "no webhook"
            finally:
                db.session.remove()
            return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(run, ["resend", "delete"]))
    assert outcomes[1] == "done"
    assert add_delivery.row(delivery_id).status == "failed"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
