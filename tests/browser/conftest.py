"""Browser tests: Debian's Chromium driven by Playwright against the real app and mock gateway.

They run when Chromium is present. With SMSPANEL_REQUIRE_BROWSER=1 (CI) a missing browser or
Playwright is a failure, not a skip. The app (`python run.py`) and the mock gateway are started
once per session on free loopback ports and always stopped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback import ADMIN_PASSWORD, ROOT, App, MockGateway

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ACTION_TIMEOUT_MS = 10_000
GATEWAY_LATENCY_MS = 2500


def chromium_path() -> str | None:
    """CHROMIUM_PATH if set (and only it), else Debian's Chromium."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def browser_unavailable(reason: str) -> None:
    """Skip, unless the environment insists the browser tests run."""
    if os.environ.get("SMSPANEL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SMSPANEL_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        browser_unavailable("Chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockGateway]:
    # A little latency, so a message is visibly pending before the page shows it sent.
    mock = MockGateway(
        tmp_path_factory.mktemp("browser-mock"), "--latency-ms", str(GATEWAY_LATENCY_MS)
    )
    try:
        yield mock.start()
    finally:
        mock.stop()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, gateway: MockGateway) -> Iterator[App]:
    app = App(
        tmp_path_factory.mktemp("browser-app"),
        gateway.url,
        SMS_APPLICATION_ID="test",
        SMS_SENDER_NUMBER="1234",
    )
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def open_tab(browser, live_app: App, **context_options):
    """A fresh browser context (no cookies) pointed at the app; closed afterwards."""
    context = browser.new_context(base_url=live_app.base, **context_options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser, live_app: App):
    """A tab at desktop size."""
    yield from open_tab(browser, live_app, viewport={"width": 1280, "height": 860})


@pytest.fixture
def phone_page(browser, live_app: App):
    """A tab at a phone's size, for checking the layout on small screens."""
    yield from open_tab(
        browser,
        live_app,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def log_in(page, username: str = "SMSadmin", password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def screenshot(page, name: str) -> Path | None:
    """Save the whole page under docs/screenshots/ (only with SMSPANEL_SCREENSHOTS=1,
    so ordinary test runs leave the committed images alone)."""
    if os.environ.get("SMSPANEL_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
