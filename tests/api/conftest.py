"""API fixtures: a user and the headers of their bearer token."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(make):
    return make.user("alice")


@pytest.fixture
def headers(make, alice):
    """`Authorization: Bearer …` for alice."""
    return make.auth(alice)
