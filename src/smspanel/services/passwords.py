"""Password policy and hashing: what a password must be, and how it is stored and checked.

Nothing here touches the database, so settings can be checked before there is one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from smspanel.services.wording import _

MIN_PASSWORD_LENGTH = 12
# werkzeug's default KDF at its full cost (scrypt, N=32768). The test suite lowers the cost
# for its thousands of throwaway accounts (tests/conftest.py); nothing else changes it.
HASH_METHOD = "scrypt"


class WeakPassword(ValueError):
    """The password breaks the policy; the message says how."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


@cache
def _dummy_hash(method: str) -> str:
    """Verifying against this when a username is unknown keeps login timing uniform."""
    return generate_password_hash("not-a-real-password", method=method)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (an unknown user) it takes just as long."""
    if password_hash is None:
        check_password_hash(_dummy_hash(HASH_METHOD), password)
        return False
    return check_password_hash(password_hash, password)


@cache
def common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent / "common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password_policy(username: str, password: str) -> None:
    """At least 12 characters, not the username, not a well-known password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            _("password must be at least %(num)s characters", num=MIN_PASSWORD_LENGTH)
        )
    if password.strip().lower() == username.strip().lower():
        raise WeakPassword(_("password must not be the username"))
    if password.strip().lower() in common_passwords():
        raise WeakPassword(_("password is too common; choose another"))
