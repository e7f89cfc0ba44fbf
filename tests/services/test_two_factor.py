"""Two-factor sign-in (TOTP): enrolment, the window either side of now, no replay, recovery
codes that work once and are kept only as hashes, disabling and an admin's reset."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from smspanel.models import AuditEvent, RecoveryCode, User, db
from smspanel.services import accounts, two_factor
from smspanel.services.two_factor import (
    RECOVERY_CODE_COUNT,
    TwoFactorError,
    check_code,
    complete_login,
    confirm_enrolment,
    disable,
    start_enrolment,
)
from tests.conftest import PASSWORD

NOW = 1_800_000_000.0  # a fixed moment, so every code below is known
STEP = 30


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def code_at(user: User, moment: float) -> str:
    return pyotp.TOTP(user.totp_secret).at(moment)


@pytest.fixture
def alice(app, make):
    created = make.user("alice")
    with app.app_context():
        yield db.session.get(User, created.id)


@pytest.fixture
def enrolled(alice):
    """Alice with two-factor sign-in on (confirmed one step before NOW) and her codes."""
    start_enrolment(db.session, alice)
    codes = confirm_enrolment(db.session, alice, code_at(alice, NOW - STEP), now=NOW - STEP)
    return alice, codes


def test_the_enrolment_shows_a_secret_its_uri_and_a_qr_code_made_here(alice):
    enrolment = start_enrolment(db.session, alice)
    assert re.fullmatch(r"[A-Z2-7]{32}", enrolment.secret)
    assert enrolment.uri.startswith("otpauth://totp/smspanel:alice?")
    assert f"secret={enrolment.secret}" in enrolment.uri and "issuer=smspanel" in enrolment.uri
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_svg.endswith("</svg>")
    assert "http" not in enrolment.qr_svg and "style=" not in enrolment.qr_svg  # no CDN, CSP-safe
    assert not two_factor.is_enabled(alice)  # not on until a code confirms it


def test_looking_again_before_confirming_shows_the_same_secret(alice):
    first = start_enrolment(db.session, alice).secret
    assert start_enrolment(db.session, alice).secret == first
    assert audit_actions().count("two_factor.start") == 1


def test_a_right_code_turns_it_on_and_gives_ten_distinct_recovery_codes(enrolled):
    alice, codes = enrolled
    assert two_factor.is_enabled(alice)
    assert len(codes) == len(set(codes)) == RECOVERY_CODE_COUNT == 10
    assert all(re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", code) for code in codes)
    assert "two_factor.enable" in audit_actions()


def test_a_wrong_code_leaves_it_off_and_is_audited(alice):
    start_enrolment(db.session, alice)
    wrong = "000000" if code_at(alice, NOW) != "000000" else "111111"
    with pytest.raises(TwoFactorError) as refused:
        confirm_enrolment(db.session, alice, wrong, now=NOW)
    assert refused.value.field == "code"
    assert not two_factor.is_enabled(alice)
    assert audit_actions()[-1] == "two_factor.failure"


def test_recovery_codes_are_stored_only_as_salted_hashes(enrolled):
    _, codes = enrolled
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not any(code in digest or code.replace("-", "") in digest for code in codes
                   for digest in stored)  # fmt: skip
    once, twice = two_factor.hash_recovery_code(codes[0]), two_factor.hash_recovery_code(codes[0])
    assert once != twice  # salted: the same code never hashes the same way twice
    assert two_factor.recovery_code_matches(once, codes[0])
    assert not two_factor.recovery_code_matches(once, codes[1])


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True),
                                                  (2, False)])  # fmt: skip
def test_a_code_is_good_one_step_either_side_of_now(enrolled, offset, accepted):
    alice, _ = enrolled
    later = NOW + 10 * STEP  # well after the enrolment's step
    code = code_at(alice, later + offset * STEP)
    assert (check_code(db.session, alice, code, now=later) is not None) is accepted


def test_a_code_cannot_be_used_twice(enrolled):
    alice, _ = enrolled
    code = code_at(alice, NOW)
    assert check_code(db.session, alice, code, now=NOW) is not None
    assert check_code(db.session, alice, code, now=NOW) is None
    assert check_code(db.session, alice, code, now=NOW + STEP) is None  # still in the window


def test_an_older_code_is_refused_once_a_newer_one_was_accepted(enrolled):
    alice, _ = enrolled
    assert check_code(db.session, alice, code_at(alice, NOW + STEP), now=NOW) is not None
    assert check_code(db.session, alice, code_at(alice, NOW), now=NOW) is None


def test_the_enrolment_code_may_sign_in_once_straight_after(enrolled):
    """Enrolling proves the app is set up; it does not use the code up."""
    alice, _ = enrolled
    code = code_at(alice, NOW - STEP)
    assert check_code(db.session, alice, code, now=NOW) is not None
    assert check_code(db.session, alice, code, now=NOW) is None


def test_a_recovery_code_works_once(enrolled):
    alice, codes = enrolled
    first = check_code(db.session, alice, codes[0], now=NOW)
    assert first is not None and first.recovery_code and first.recovery_codes_left == 9
    assert check_code(db.session, alice, codes[0], now=NOW) is None
    used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1


@pytest.mark.parametrize("typed", [str.upper, lambda c: c.replace("-", ""),
                                   lambda c: " " + c.replace("-", " ") + " "])  # fmt: skip
def test_a_recovery_code_may_be_typed_in_capitals_or_without_dashes(enrolled, typed):
    alice, codes = enrolled
    assert check_code(db.session, alice, typed(codes[3]), now=NOW) is not None


def test_full_width_digits_from_a_chinese_keyboard_are_read_as_digits(enrolled):
    alice, _ = enrolled
    full_width = code_at(alice, NOW).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert check_code(db.session, alice, full_width, now=NOW) is not None


@pytest.mark.usefixtures("enrolled")
def test_the_password_alone_does_not_log_a_two_factor_user_in():
    user = accounts.log_in(db.session, "alice", PASSWORD)
    assert user is not None and user.session_token is None
    assert audit_actions()[-1] == "login.password"


def test_completing_the_login_starts_a_session_and_is_audited(enrolled):
    alice, _ = enrolled
    assert complete_login(db.session, alice.id, "not a code", now=NOW) is None
    assert audit_actions()[-1] == "login.failure"
    done = complete_login(db.session, alice.id, code_at(alice, NOW), "127.0.0.1", now=NOW)
    assert done is not None and done[0].session_token
    assert audit_actions()[-1] == "login.success"


def test_a_user_without_two_factor_cannot_complete_a_code_step(alice):
    assert complete_login(db.session, alice.id, "123456", now=NOW) is None


def test_disabling_takes_the_password_and_a_code(enrolled):
    alice, _ = enrolled
    code = code_at(alice, NOW)
    with pytest.raises(TwoFactorError) as wrong_password:
        disable(db.session, alice, "not my password", code, now=NOW)
    assert wrong_password.value.field == "password"
    with pytest.raises(TwoFactorError) as no_code:
        disable(db.session, alice, PASSWORD, "", now=NOW)
    assert no_code.value.field == "code"
    assert two_factor.is_enabled(alice)
    disable(db.session, alice, PASSWORD, code, now=NOW)
    assert not two_factor.is_enabled(alice) and alice.totp_secret is None
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert audit_actions()[-1] == "two_factor.disable"


def test_an_admin_resets_another_users_two_factor_but_not_their_own(app, make, enrolled):
    alice, _ = enrolled
    boss = db.session.get(User, make.user("boss", is_admin=True).id)
    with pytest.raises(TwoFactorError):
        two_factor.reset(db.session, alice, alice)
    two_factor.reset(db.session, boss, alice)
    assert not two_factor.is_enabled(alice) and alice.totp_secret is None
    assert db.session.scalars(select(RecoveryCode)).all() == []
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.target) == ("two_factor.reset", f"user:{alice.id} alice")


def test_two_logins_racing_with_one_code_cannot_both_pass(enrolled):
    """The second reads the user before the first took the step; its UPDATE finds it taken."""
    from sqlalchemy.orm import Session

    alice, _ = enrolled
    with Session(db.engine, expire_on_commit=False) as other:
        stale = other.get(User, alice.id)
        other.commit()  # its copy keeps the step as it was
        code = code_at(alice, NOW)
        assert check_code(db.session, alice, code, now=NOW) is not None
        assert (stale.totp_last_step or -1) < alice.totp_last_step
        assert check_code(other, stale, code, now=NOW) is None
