"""Templates: each field checked and named, names unique ignoring case, every change audited,
and no deleting a template that a scheduled message is waiting to be sent from."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from smspanel.models import AuditEvent, Message, Template, db, utcnow
from smspanel.services.personalisation import check_rows
from smspanel.services.sending import accept_personalised_send, accept_send
from smspanel.services.templates import (
    DuplicateName,
    InvalidTemplate,
    TemplateInUse,
    TemplateNotFound,
    create_template,
    delete_template,
    find_template,
    list_templates,
    placeholder_problems,
    update_template,
)

REMINDER = "Dear ((name)), your appointment is on ((date)) at ((clinic))."


def schedule_from_template(app, user_id: int, template_id: int, hours_ahead: int = 20) -> int:
    """A send from the template, personalised and scheduled, as the API would accept it."""
    with app.app_context():
        template = db.session.get(Template, template_id)
        check = check_rows(
            template.content,
            [(1, "9123 4567", {"name": "Chan", "date": "2 Dec", "clinic": "Wan Chai"})],
        )
        assert not check.problems
        when = utcnow() + timedelta(hours=hours_ahead)
        return accept_personalised_send(
            db.session, user_id, template.id, template.content, check.rows, scheduled_at=when
        ).id


def audit_rows(action_prefix: str = "template.") -> list[tuple[str, str, str]]:
    return [
        (e.action, e.target, e.detail)
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like(f"{action_prefix}%"))
            .order_by(AuditEvent.id)
        )
    ]


def template_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Template))


def test_a_template_is_stored_trimmed_with_lf_line_breaks_and_audited(app, make):
    user = make.user()
    with app.app_context():
        template = create_template(db.session, user.id, "  Clinic reminder ", "Hi ((name))\r\nBye")
        stored = find_template(db.session, template.id)
        assert (stored.name, stored.content, stored.created_by) == (
            "Clinic reminder",
            "Hi ((name))\nBye",
            user.id,
        )
        assert stored.updated_at == stored.created_at
        assert audit_rows() == [
            ("template.create", f"template:{template.id} Clinic reminder", "1 placeholder(s)")
        ]


@pytest.mark.parametrize(
    ("name", "content", "field", "says"),
    [
        ("", "Hello", "name", "name is required"),
        ("   ", "Hello", "name", "name is required"),
        ("n" * 101, "Hello", "name", "name is 101 characters; the maximum is 100"),
        ("two\nlines", "Hello", "name", "line breaks"),
        ("Notice", "", "content", "content is required"),
        ("Notice", " \n ", "content", "content is required"),
        ("Notice", "x" * 1001, "content", "content is 1001 characters; the maximum is 1000"),
        ("Notice", "bell \x07", "content", "unsupported character U+0007 at position 6"),
        ("Notice", "Dear ((name, hello", "content", "'((' at position 6 has no matching '))'"),
        ("Notice", "Dear (( )), hello", "content", "'(( ))' at position 6 is empty"),
        ("Notice", "Dear (((name)", "content", "'((' at position 7 has no matching '))'"),
        ("Notice", "Hi ((first\nname))", "content", "at position 4 spans a line break"),
        ("Notice", "Hi ((a(b))", "content", "'((' at position 4 has no matching '))'"),
        (
            "Notice",
            f"Hi (({'n' * 51}))",
            "content",
            "at position 4 is 51 characters; the maximum is 50",
        ),
    ],
)
def test_each_refusal_names_its_field_and_stores_nothing(app, name, content, field, says):
    with app.app_context():
        with pytest.raises(InvalidTemplate) as refused:
            create_template(db.session, None, name, content)
        assert list(refused.value.errors) == [field]
        assert says in " ".join(refused.value.errors[field])
        assert template_count() == 0
        assert audit_rows() == []


def test_every_problem_of_both_fields_is_named_at_once(app):
    with app.app_context():
        with pytest.raises(InvalidTemplate) as refused:
            create_template(db.session, None, "", "((a)) (( )) ((b and ((")
        assert refused.value.errors["name"] == ["name is required"]
        assert refused.value.errors["content"] == [
            "the placeholder '(( ))' at position 7 is empty",
            "'((' at position 13 has no matching '))': write placeholders as ((name)), "
            "with no brackets inside the name",
            "'((' at position 21 has no matching '))': write placeholders as ((name)), "
            "with no brackets inside the name",
        ]


@pytest.mark.parametrize(
    "content",
    [
        REMINDER,
        "Call (2833 1234) or ((office))",
        "(((name)))",  # brackets around a placeholder
        "Smile :)) or not",  # a lone '))' is just text
        f"Hi (({'n' * 50}))",
        "親愛的((姓名))，明天((時間))覆診",
    ],
)
def test_well_formed_placeholders_and_ordinary_brackets_are_accepted(content):
    assert placeholder_problems(content) == []


def test_names_are_unique_ignoring_case(app):
    with app.app_context():
        create_template(db.session, None, "Clinic reminder", "Hello")
        for clash in ("Clinic reminder", "clinic REMINDER", " CLINIC reminder "):
            with pytest.raises(DuplicateName) as refused:
                create_template(db.session, None, clash, "Other text")
            assert refused.value.errors == {
                "name": [
                    "a template named 'Clinic reminder' already exists "
                    "(names are compared ignoring case)"
                ]
            }
        assert template_count() == 1


def test_a_clashing_name_is_named_with_the_other_problems(app):
    with app.app_context():
        create_template(db.session, None, "Notice", "Hello")
        with pytest.raises(InvalidTemplate) as refused:
            create_template(db.session, None, "notice", "")
        assert not isinstance(refused.value, DuplicateName)  # not only a clash: a 400
        assert set(refused.value.errors) == {"name", "content"}
        assert "already exists" in refused.value.errors["name"][0]


def test_an_edit_changes_name_and_content_sets_updated_at_and_is_audited(app):
    with app.app_context():
        template = create_template(db.session, None, "Reminder", "Hello ((name))")
        created = template.updated_at
        edited = update_template(db.session, template.id, "Reminder v2", "Bye ((name))")
        assert (edited.name, edited.content) == ("Reminder v2", "Bye ((name))")
        assert edited.updated_at > created
        # Renaming to itself with other letter cases is not a clash with itself.
        update_template(db.session, template.id, "REMINDER V2", "Bye ((name))")
        assert audit_rows()[1:] == [
            (
                "template.update",
                f"template:{template.id} Reminder v2",
                "renamed from 'Reminder'; content changed",
            ),
            (
                "template.update",
                f"template:{template.id} REMINDER V2",
                "renamed from 'Reminder v2'",
            ),
        ]


def test_a_refused_edit_changes_nothing(app):
    with app.app_context():
        create_template(db.session, None, "Taken", "A")
        template = create_template(db.session, None, "Mine", "B")
        with pytest.raises(DuplicateName):
            update_template(db.session, template.id, "taken", "C")
        with pytest.raises(InvalidTemplate):
            update_template(db.session, template.id, "Mine", "((")
        db.session.expire_all()
        stored = find_template(db.session, template.id)
        assert (stored.name, stored.content) == ("Mine", "B")
        assert [a for a, _, _ in audit_rows()] == ["template.create", "template.create"]


def test_editing_or_deleting_a_missing_template_says_so(app):
    with app.app_context():
        with pytest.raises(TemplateNotFound):
            update_template(db.session, 999, "Name", "Text")
        with pytest.raises(TemplateNotFound):
            delete_template(db.session, 999)


def test_the_list_is_by_name_ignoring_case(app):
    with app.app_context():
        for name in ("beta", "Alpha", "gamma", "Beta 2"):
            create_template(db.session, None, name, "Hello")
        assert [t.name for t in list_templates(db.session)] == ["Alpha", "beta", "Beta 2", "gamma"]


def test_a_template_waiting_in_a_scheduled_message_cannot_be_deleted(app, make):
    user = make.user()
    with app.app_context():
        template_id = create_template(db.session, user.id, "Reminder", REMINDER).id
    later = schedule_from_template(app, user.id, template_id, hours_ahead=30)
    sooner = schedule_from_template(app, user.id, template_id, hours_ahead=2)
    with app.app_context():
        with pytest.raises(TemplateInUse) as refused:
            delete_template(db.session, template_id)
        uses = refused.value.uses
        assert [u.message_id for u in uses] == [sooner, later]  # soonest first
        assert all(u.user_id == user.id and u.scheduled_at is not None for u in uses)
        assert f"#{sooner}, #{later}" in str(refused.value)
        assert find_template(db.session, template_id) is not None
        assert [a for a, _, _ in audit_rows()] == ["template.create"]


def test_sent_and_cancelled_messages_keep_their_record_when_the_template_goes(app, make):
    user = make.user()
    with app.app_context():
        template_id = create_template(db.session, user.id, "Reminder", REMINDER).id
    scheduled = schedule_from_template(app, user.id, template_id)
    with app.app_context():
        # Once it is no longer waiting (here: cancelled), the template may go.
        from smspanel.services.cancelling import cancel_message

        cancel_message(db.session, scheduled, wait_seconds=0)
        plain = accept_send(db.session, user.id, ["12345678"], "Plain")
        db.session.get(Message, plain.id).template_id = template_id
        db.session.commit()
        assert delete_template(db.session, template_id) == "Reminder"
        db.session.expire_all()
        assert find_template(db.session, template_id) is None
        kept = db.session.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.id, m.template_id) for m in kept] == [(scheduled, None), (plain.id, None)]
        assert kept[0].content == REMINDER
        assert audit_rows()[-1] == ("template.delete", f"template:{template_id} Reminder", "")


def test_two_racing_creates_of_one_name_store_one(app):
    threads = 4
    together = Barrier(threads)

    def create(n: int) -> str:
        with app.app_context():
            together.wait(10)
            try:
                create_template(
                    db.session, None, "Clinic reminder" if n % 2 else "CLINIC REMINDER", f"Text {n}"
                )
            except DuplicateName:
                return "duplicate"
            finally:
                db.session.remove()
            return "created"

    with ThreadPoolExecutor(threads) as pool:
        results = sorted(pool.map(create, range(threads)))
    with app.app_context():
        stored = template_count()
    # The exact name is held by the unique constraint; names differing only in case are
    # caught by the check, except when two commit at the very same moment.
    assert results.count("created") == stored
    assert 1 <= stored <= 2
    assert results.count("duplicate") == threads - stored


def test_a_send_racing_a_delete_never_leaves_a_scheduled_message_without_its_template(app, make):
    """Either the send commits first and the delete is refused, or the delete commits first
    and the send fails on the missing template; never both go through."""
    user = make.user()
    rows = [(1, "9123 4567", {"name": "Chan", "date": "2 Dec", "clinic": "Wan Chai"})]
    [row] = check_rows(REMINDER, rows).rows

    def send(template_id: int, together: Barrier) -> str:
        with app.app_context():
            together.wait(10)
            try:
                tomorrow = utcnow() + timedelta(days=1)
                accept_personalised_send(
                    db.session, user.id, template_id, REMINDER, [row], tomorrow
                )
            except IntegrityError:
                return "send failed"
            finally:
                db.session.remove()
            return "sent"

    def delete(template_id: int, together: Barrier) -> str:
        with app.app_context():
            together.wait(10)
            find_template(db.session, template_id)  # as the web page reads it first
            try:
                delete_template(db.session, template_id)
            except TemplateInUse:
                return "delete refused"
            finally:
                db.session.remove()
            return "deleted"

    for attempt in range(8):
        with app.app_context():
            template_id = create_template(db.session, user.id, f"Race {attempt}", REMINDER).id
        together = Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            sending = pool.submit(send, template_id, together)
            deleting = pool.submit(delete, template_id, together)
            outcome = (sending.result(timeout=60), deleting.result(timeout=60))
        assert outcome in {("sent", "delete refused"), ("send failed", "deleted")}
    with app.app_context():
        orphans = db.session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.status == "scheduled", Message.template_id.is_(None))
        )
    assert orphans == 0


def test_a_delete_sees_a_send_committed_after_its_transaction_began(app, make):
    """A page reads the template, a send from it commits, then the page deletes: refused
    (a snapshot kept from the first read would miss the send)."""
    user = make.user()
    with app.app_context():
        template_id = create_template(db.session, user.id, "Reminder", REMINDER).id
        assert find_template(db.session, template_id) is not None  # the transaction's first read
        message_id = schedule_from_template(app, user.id, template_id)  # another session
        with pytest.raises(TemplateInUse) as refused:
            delete_template(db.session, template_id)
        assert [use.message_id for use in refused.value.uses] == [message_id]
