"""Security tests post forms directly: CSRF checks off here (tests/web/test_csrf.py covers them)."""

import pytest
from flask import Flask


@pytest.fixture
def app(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = False
    return app
