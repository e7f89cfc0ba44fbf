"""Two-factor sign-in (TOTP, RFC 6238): enrolment, codes at login, recovery codes, disabling
and an admin's reset, each use case one transaction and each step audited.

A secret is kept on the user from the first look at the enrolment page (`totp_secret`), but
two-factor sign-in is on only once a code has confirmed it (`totp_enabled_at`). A code is
accepted for the time step before, at or after now (pyotp's `valid_window=1`), and only for
a step later than the last one accepted (`totp_last_step`, moved by a conditional UPDATE, so
two requests racing with one code cannot both pass). Recovery codes carry 80 random bits,
so a salted SHA-256 guards them as well as a slow hash would, and ten are checked at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from smspanel.models import RecoveryCode, User, utcnow
from smspanel.services import audit, sessions
from smspanel.services.passwords import verify_password
from smspanel.services.transactions import transaction
from smspanel.services.wording import _

ISSUER = "smspanel"
VALID_WINDOW = 1  # steps either side of now: a phone clock 30 s off still works
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i to misread
RECOVERY_CODE_LENGTH = 16  # about 79 bits
# How long the password step of a login waits for its code (the web layer keeps the marker).
PENDING_LOGIN_LIFETIME = timedelta(minutes=5)

_TOTP_CODE = re.compile(r"\d{6}")


class TwoFactorError(ValueError):
    """A two-factor request that cannot be carried out; `field` names the form field at
    fault (`code` or `password`), if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret as text, its URI and its QR code."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class CodeCheck:
    """A code that was accepted: whether it was a recovery code, and how many are left."""

    recovery_code: bool
    recovery_codes_left: int


def is_enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code as an inline <svg> made here: no image from elsewhere, no inline style."""
    return str(
        segno.make(uri, error="m").svg_inline(
            scale=4, dark="#000", light="#fff", title=title, svgclass="qr-code", lineclass=None
        )
    )


def start_enrolment(session: Session, user: User) -> Enrolment:
    """The secret to enrol with: the one already waiting for its code, or a new one."""
    if is_enabled(user):
        raise TwoFactorError(_("two-factor sign-in is already on"))
    with transaction(session):
        if user.totp_secret is None:
            user.totp_secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
            user.totp_last_step = None
            audit.record(session, "two_factor.start", audit.describe(user))
    uri = provisioning_uri(user.totp_secret, user.username)
    return Enrolment(user.totp_secret, uri, qr_svg(uri, _("QR code for your authenticator app")))


def confirm_enrolment(
    session: Session, user: User, code: str, now: float | None = None
) -> list[str]:
    """Turn two-factor sign-in on with a code from the app; return the ten recovery codes,
    which are shown this once (only their hashes are kept)."""
    if is_enabled(user):
        raise TwoFactorError(_("two-factor sign-in is already on"))
    if user.totp_secret is None:
        raise TwoFactorError(_("open the two-factor page first to get your secret"), "code")
    codes: list[str] = []
    with transaction(session):
        # Checked, not taken: the code only proves the app is set up, so the same code may
        # sign in straight after (each sign-in code is then single-use).
        accepted = _matching_step(user, normalise(code), now) is not None
        if accepted:
            user.totp_enabled_at = utcnow()
            codes = _replace_recovery_codes(session, user)
            audit.record(session, "two_factor.enable", audit.describe(user))
        else:
            audit.record(session, "two_factor.failure", audit.describe(user), "enrolment code")
    if not accepted:
        raise TwoFactorError(
            _("the code is not right; enter the 6 digits your app shows now"), "code"
        )
    return codes


def check_code(
    session: Session, user: User, code: str, now: float | None = None
) -> CodeCheck | None:
    """Accept a code from the app or an unused recovery code, once; None if neither.

    Joins the caller's transaction, which records what the code was for."""
    if not is_enabled(user):
        return None
    code = normalise(code)
    with transaction(session):
        if _accept_totp(session, user, code, now):
            return CodeCheck(False, recovery_codes_left(session, user))
        if _use_recovery_code(session, user, code):
            return CodeCheck(True, recovery_codes_left(session, user))
    return None


def complete_login(
    session: Session,
    user_id: int,
    code: str,
    ip_address: str | None = None,
    now: float | None = None,
) -> tuple[User, CodeCheck] | None:
    """The second step of a web login: with a right code, the user holding a new server-side
    session (and what the code was); else None, with the failure audited."""
    with transaction(session):
        user = session.get(User, user_id)
        if user is None or not user.is_active or not is_enabled(user):
            return None
        checked = check_code(session, user, code, now)
        if checked is None:
            audit.record(session, "login.failure", audit.describe(user), "wrong two-factor code")
            return None
        user.last_login_at = utcnow()
        audit.identify(user)
        how = "recovery code" if checked.recovery_code else "two-factor code"
        audit.record(session, "login.success", audit.describe(user), how)
        sessions.start_session(session, user, ip_address)
    return user, checked


def disable(
    session: Session, user: User, password: str, code: str, now: float | None = None
) -> None:
    """Turn two-factor sign-in off: it takes the password and a code (or a recovery code)."""
    if not is_enabled(user):
        raise TwoFactorError(_("two-factor sign-in is not on"))
    if not password:
        raise TwoFactorError(_("enter your password"), "password")
    if not code.strip():
        raise TwoFactorError(_("enter a code from your app or a recovery code"), "code")
    with transaction(session):
        problem = None
        if not verify_password(user.password_hash, password):
            problem = TwoFactorError(_("the password is not right"), "password")
        elif check_code(session, user, code, now) is None:
            problem = TwoFactorError(_("the code is not right"), "code")
        if problem is None:
            _turn_off(session, user)
            audit.record(session, "two_factor.disable", audit.describe(user))
        else:
            audit.record(
                session, "two_factor.failure", audit.describe(user), f"disable: {problem.field}"
            )
    if problem is not None:
        raise problem


def reset(session: Session, actor: User | None, target: User) -> None:
    """An admin (or the command line, `actor` None) turns off another user's two-factor
    sign-in (a lost phone): the secret and the recovery codes go; the user enrols again.
    One's own goes through `disable`."""
    if actor is not None and actor.id == target.id:
        raise TwoFactorError(_("turn off your own two-factor sign-in on your two-factor page"))
    if target.totp_secret is None:
        raise TwoFactorError(_("%(username)s has no two-factor sign-in", username=target.username))
    with transaction(session):
        _turn_off(session, target)
        audit.record(session, "two_factor.reset", audit.describe(target))


def recovery_codes_left(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def normalise(code: str) -> str:
    """What people type, as compared: full-width digits, spaces, dashes and case ignored."""
    text = unicodedata.normalize("NFKC", code)[:64]
    return re.sub(r"[\s\-]", "", text).lower()


def _matching_step(user: User, code: str, now: float | None) -> int | None:
    """The latest step in the window, after the last one accepted, whose code this is."""
    if user.totp_secret is None or not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(user.totp_secret)
    step = totp.timecode(time.time() if now is None else now)
    last = user.totp_last_step if user.totp_last_step is not None else -1
    matching = [
        candidate
        for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1)
        if hmac.compare_digest(totp.generate_otp(candidate), code) and candidate > last
    ]
    return max(matching) if matching else None


def _accept_totp(session: Session, user: User, code: str, now: float | None) -> bool:
    """The code matches a step not yet taken; that step is then taken, in the same
    statement that checks nobody took it first."""
    step = _matching_step(user, code, now)
    if step is None:
        return False
    taken = session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step),
        execution_options={"synchronize_session": False},
    )
    if int(taken.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    if len(code) != RECOVERY_CODE_LENGTH:
        return False
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if recovery_code_matches(row.code_hash, code):
            used = session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
            session.expire(row)
            return int(used.rowcount or 0) == 1  # type: ignore[attr-defined]
    return False


def new_recovery_code() -> str:
    """16 characters, shown as four groups of four (`abcd-efgh-jkmn-pqrs`)."""
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4))


def hash_recovery_code(code: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}${normalise(code)}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def recovery_code_matches(stored: str, code: str) -> bool:
    method, _sep, rest = stored.partition("$")
    salt, _sep, digest = rest.partition("$")
    if method != "sha256" or not salt or not digest:
        return False
    candidate = hashlib.sha256(f"{salt}${normalise(code)}".encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    now = utcnow()
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=hash_recovery_code(code), created_at=now)
        for code in codes
    )
    return codes


def _turn_off(session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
