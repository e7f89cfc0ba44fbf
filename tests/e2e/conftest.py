"""The processes end-to-end tests start: the mock gateway, and the app delivering to it on
the suite's database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback import App, MockGateway


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[MockGateway]:
    gateway = MockGateway(tmp_path).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def app_process(tmp_path: Path, mock: MockGateway, fresh_database: str) -> Iterator[App]:
    app = App(tmp_path, mock.url, DATABASE_URL=fresh_database).start()
    yield app
    app.stop()
