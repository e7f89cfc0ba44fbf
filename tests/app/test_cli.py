"""Command-line tools: the way back in for a locked-out admin, and safe backups."""

import sqlite3

import pytest

from smspanel.models import AuditEvent, User, db
from smspanel.services.accounts import authenticate
from smspanel.services.tokens import authenticate_token
from tests.databases import server_dialect


def test_create_user_and_token(runner, app):
    result = runner.invoke(args=["create-user", "ops", "--admin", "--password", "ops password 1"])
    assert result.exit_code == 0, result.output
    assert "created admin ops" in result.output
    token = runner.invoke(args=["create-token", "ops"]).output.strip()
    with app.app_context():
        assert authenticate_token(db.session, token).username == "ops"


def test_create_token_can_expire(runner, app, make):
    from smspanel.models import ApiToken

    make.user("temp")
    result = runner.invoke(args=["create-token", "temp", "--expires-days", "7"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        expires = db.session.scalar(db.select(ApiToken.expires_at))
        created = db.session.scalar(db.select(ApiToken.created_at))
        assert 6.9 < (expires - created).total_seconds() / 86400 < 7.1


def test_create_user_refuses_bad_input_with_a_reason(runner, make):
    make.user("taken")
    result = runner.invoke(args=["create-user", "taken", "--password", "some password"])
    assert result.exit_code != 0 and "already taken" in result.output


def test_reset_password_also_re_enables_the_account(runner, app, make):
    make.user("locked", active=False)
    result = runner.invoke(args=["reset-password", "locked", "--password", "brand new pass"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert authenticate(db.session, "locked", "brand new pass") is not None
        assert db.session.scalar(db.select(User.is_active).where(User.username == "locked"))


def test_reset_password_records_the_new_password_and_the_re_enabling(runner, app, make):
    locked = make.user("locked", active=False)
    result = runner.invoke(args=["reset-password", "locked", "--password", "brand new pass"])
    assert result.output.strip() == (
        "password for locked changed; the account is active; 0 API token(s) revoked"
    )
    with app.app_context():
        recorded = db.session.execute(
            db.select(AuditEvent.action, AuditEvent.target, AuditEvent.channel)
            .where(AuditEvent.action != "user.create")
            .order_by(AuditEvent.id)
        ).all()
    target = f"user:{locked.id} locked"
    assert recorded == [
        ("token.revoke", target, "cli"),
        ("user.password", target, "cli"),
        ("user.enable", target, "cli"),
    ]


def test_reset_2fa_lets_an_admin_who_lost_their_phone_back_in(runner, app, make):
    from smspanel.services import two_factor

    admin = make.user("ops", is_admin=True)
    with app.app_context():
        two_factor.start_enrolment(db.session, db.session.get(User, admin.id))
    result = runner.invoke(args=["reset-2fa", "ops"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(User, admin.id).totp_secret is None
        last = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.action, last.channel) == ("two_factor.reset", "cli")
    assert runner.invoke(args=["reset-2fa", "nobody"]).exit_code != 0


def test_reset_password_of_unknown_user_fails(runner):
    result = runner.invoke(args=["reset-password", "ghost", "--password", "whatever pass"])
    assert result.exit_code != 0 and "no user named 'ghost'" in result.output


@pytest.mark.skipif(server_dialect() != "sqlite", reason="backup copies SQLite databases")
def test_backup_copies_the_live_sqlite_database(runner, make, tmp_path):
    make.message(make.user(), ["11112222", "33334444"])
    target = tmp_path / "backups" / "sms.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM recipients").fetchone() == (2,)


@pytest.mark.skipif(server_dialect() == "sqlite", reason="servers have their own dump tools")
def test_backup_on_a_server_points_to_its_dump_tool(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "x.db")])
    assert result.exit_code != 0
    assert "mysqldump --single-transaction" in result.output and "pg_dump" in result.output


def test_purge_uploads_deletes_only_those_past_their_day(runner, app, make):
    from datetime import timedelta

    from smspanel.models import Upload, utcnow
    from smspanel.services.uploads import store_upload
    from tests.campaign_helpers import make_template

    user = make.user("alice")
    with app.app_context():
        template_id = make_template(db.session, "Dear ((name)).")
        data = b"phone,name\r\n91234567,Ann\r\n"
        for days_ago in (0, 2):  # the later upload purges nothing: its "now" is long past
            store_upload(db.session, user.id, template_id, "f.csv", data, 1 << 20,
                         utcnow() - timedelta(days=days_ago))  # fmt: skip
    result = runner.invoke(args=["purge-uploads"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "deleted 1 expired upload"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Upload)) == 1
