"""The app in this process on a scratch database, for the scenarios that time a use case or
a request without a server between (bench.registers, bench.quotas)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import make_url


@contextmanager
def scratch_app(database_url: str | None, name: str) -> Iterator[tuple[Flask, str]]:
    """The app and its database's dialect, its tables dropped and made again: on
    `database_url` (a server URL must name a scratch database), else on a new SQLite file in
    a temporary folder. No dispatcher runs in it."""
    from smspanel import create_app
    from smspanel.models import db

    with tempfile.TemporaryDirectory(prefix=f"smspanel-bench-{name}-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / f'{name}.db'}"
        app = create_app(
            {
                "SECRET_KEY": "bench-secret-key-that-is-long-enough-0000",
                "SQLALCHEMY_DATABASE_URI": url,
                "SMS_IN_APP_DISPATCHER": False,
                "TESTING": True,
            }
        )
        with app.app_context():
            db.drop_all()
            db.create_all()
        try:
            yield app, make_url(url).get_backend_name()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
