"""Passwords: stored only as a slow KDF hash, and held to a policy."""

import subprocess
import sys

import pytest

from smspanel.services.passwords import (
    WeakPassword,
    check_password_policy,
    hash_password,
    verify_password,
)
from tests.conftest import PASSWORD


def test_passwords_are_stored_as_kdf_hashes(app, make):
    user = make.user("alice")
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_outside_the_test_suite_hashes_are_full_cost_scrypt():
    code = "from smspanel.services.passwords import hash_password; print(hash_password('p'))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    stored = run.stdout
    assert stored.startswith("scrypt:32768:8:1$")


def test_only_the_right_password_verifies_and_no_hash_never_does():
    stored = hash_password(PASSWORD)
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD.upper())
    assert not verify_password(None, PASSWORD)  # an unknown user: checked against a dummy


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("bob", "elevenchars", "at least 12"),
        ("bobby1234567", " BOBBY1234567 ", "not be the username"),
        ("bob", "Password1234", "too common"),
    ],
)
def test_the_policy_says_what_is_wrong(username, password, message):
    with pytest.raises(WeakPassword, match=message):
        check_password_policy(username, password)
    check_password_policy(username, PASSWORD)  # and a good one passes
