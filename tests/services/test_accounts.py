"""Deleting an account keeps its messages but not its message tally."""

from sqlalchemy import func, select

from smspanel.models import Message, MessageTally, User, db
from smspanel.services.accounts import delete_user
from smspanel.services.api_listing import list_api_messages
from smspanel.services.sending import accept_send
from smspanel.services.users import create_user
from tests.conftest import PASSWORD


def test_a_deleted_users_tally_goes_and_a_new_account_of_that_name_starts_at_zero(app, make):
    admin, alice = make.user("admin", is_admin=True), make.user("alice")
    for n in range(3):
        make.message(alice, content=f"n{n}")
    with app.app_context():
        assert (
            delete_user(db.session, db.session.get(User, admin.id), db.session.get(User, alice.id))
            == 3
        )
        assert db.session.get(MessageTally, alice.id) is None
        # SQLite may even hand the new account the old id: nothing of the old tally is left.
        again = create_user(db.session, "alice", PASSWORD).id
        assert list_api_messages(db.session, again, 1, 20) == ([], 0)
        accept_send(db.session, again, ["12345678"], "first of the new account")
        assert list_api_messages(db.session, again, 1, 20)[1] == 1
        unowned = select(func.count()).select_from(Message).where(Message.user_id.is_(None))
        assert db.session.scalar(unowned) == 3
