"""axe-core (WCAG 2.1 A and AA rules) on every page a browser can reach and the states that
matter: logged out, each page of the navigation for an administrator and for a plain sender,
each form refused with its errors shown, a pending message, empty lists and every error page,
at desktop and phone size, in English and in Hong Kong Chinese.

One browser context per size and language walks it all with two logins (an admin of its own,
then a sender), and the test fails once at the end with every violation found: rule, impact,
the elements' selectors and the page. docs/ACCESSIBILITY.md says what axe cannot see.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from loopback import ADMIN_PASSWORD, App, http
from smspanel.models import Department, Role
from smspanel.services.accounts import create_user
from smspanel.services.departments import Assignment
from tests.browser.conftest import open_tab

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
LANGUAGES = ("en", "zh-Hant")
PASSWORD = ADMIN_PASSWORD
# (page path, axe rule): why it is let pass for now. Each is in docs/ACCESSIBILITY.md.
# (rule, page) pairs allowed to fail, each with its reason: none today.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}
PENDING_RECIPIENTS = 20  # with the mock gateway's latency, pending for a few seconds
TOO_LARGE = 4 * 1024 * 1024 + 1  # past MAX_CONTENT_LENGTH's default: a 413
LARGE_POST_TIMEOUT_MS = 30_000
LOGIN_LIMIT = 10  # LOGIN_LIMIT_PER_ACCOUNT's default: the 11th try is a 429


@dataclass
class People:
    """Accounts and records of this module's own, so the shared app's other tests are not
    disturbed (and the admin's saved language stays its own)."""

    tag: str
    admin: str
    sender: str
    locked: str  # an account refused with 429 after too many failed logins
    number: int  # in the names and texts, which are Chinese: test_chinese.py walks them too
    admin_id: int = 0
    sender_id: int = 0
    department_id: int = 0
    empty_department_id: int = 0
    template_id: int = 0
    waiting_id: int = 0  # a sender's message awaiting approval
    opted_out: str = ""
    sender_token: str = ""
    admin_token: str = ""


@dataclass
class Finding:
    where: str
    rule: str
    impact: str
    summary: str
    targets: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:5]) + (" …" if len(self.targets) > 5 else "")
        return f"{self.where}: {self.rule} ({self.impact}) {self.summary} — {shown}"


class Audit:
    """Runs axe on each page it is shown and keeps every violation."""

    def __init__(self, label: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.label = label
        self.findings: list[Finding] = []
        self.pages: list[str] = []

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        where = f"[{self.label}] {name} ({page.url.split('//', 1)[-1].split('/', 1)[-1] or '/'})"
        options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
        for attempt in range(3):
            try:
                results = self.axe.run(page, options=options)
                break
            except Exception as exc:  # a pending message's page may reload itself meanwhile
                if "context was destroyed" not in str(exc) or attempt == 2:
                    raise
                page.wait_for_load_state("load")
        self.pages.append(where)
        path = "/" + page.url.split("//", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        for violation in results.response["violations"]:
            if (path, violation["id"]) in KNOWN_EXCEPTIONS:
                continue
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
            self.findings.append(
                Finding(where, violation["id"], violation["impact"], violation["help"], targets)
            )

    def report(self) -> str:
        lines = [f"{len(self.findings)} WCAG 2.1 A/AA violations on {len(self.pages)} pages:"]
        return "\n".join(lines + [f"  - {finding}" for finding in self.findings])


def add_people(url: str, tag: str) -> People:
    """Written straight into the running app's database, as tests/databases.py does."""
    people = People(tag, f"axeadmin{tag}", f"axeuser{tag}", f"axelocked{tag}", int(tag, 16))
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            department = Department(name=f"無障礙組 {people.number}", approval_threshold=2)
            empty = Department(name=f"空置組 {people.number}")
            session.add_all([department, empty])
            session.commit()
            people.department_id, people.empty_department_id = department.id, empty.id
            people.admin_id = create_user(session, people.admin, PASSWORD, is_admin=True).id
            people.sender_id = create_user(
                session, people.sender, PASSWORD, assignment=Assignment(department.id, Role.SENDER)
            ).id
    finally:
        engine.dispose()
    return people


def phone(prefix: str, n: int) -> str:
    return f"{prefix}{n:07d}"[:8]


@pytest.fixture(scope="module")
def people(live_app: App) -> People:
    tag = secrets.token_hex(3)
    people = add_people(live_app.database_url, tag)
    people.admin_token = live_app.token(people.admin, PASSWORD)
    people.sender_token = live_app.token(people.sender, PASSWORD)
    status, body = live_app.api(
        "POST",
        "/api/templates",
        {"name": f"開放時間 {people.number}", "content": "((姓名))您好，辦事處九時開放。"},
        people.admin_token,
    )
    assert status == 201, body
    people.template_id = body["data"]["id"]
    status, body = live_app.api(  # reaches the department's threshold: waits for approval
        "POST",
        "/api/sms/send-bulk",
        {"recipients": ["91230001", "61230002"], "content": f"等候批核 {people.number}"},
        people.sender_token,
    )
    assert status == 202 and body["data"]["status"] == "awaiting_approval", body
    people.waiting_id = body["data"]["id"]
    people.opted_out = phone("5", int(tag, 16) % 10_000_000)
    status, body = live_app.api(
        "POST",
        "/api/opt-outs",
        {"phones": [people.opted_out], "reason": "測試"},
        people.admin_token,
    )
    assert status == 201, body
    for _ in range(LOGIN_LIMIT):
        status, _body = http(
            "POST", f"{live_app.base}/api/auth/login", {"username": people.locked, "password": "x"}
        )
        assert status == 401
    return people


def submit(page, action: str, within: str = "") -> None:
    """Click the submit button of the form posting to `action` (the path), and wait."""
    form = page.locator(f'{within} form[method="post"][action^="{action}"]').first
    with page.expect_navigation():
        form.locator('[type="submit"]').first.click()


def post_by_script(page, action: str, fields: dict[str, str], padding: int = 0) -> None:
    """A form the pages would never send (no CSRF token, or `padding` characters too many),
    posted as a browser does, so the error page is what a browser shows."""
    script = """([action, fields, padding]) => {
      const form = document.createElement('form');
      form.method = 'post'; form.action = action;
      if (padding) fields.padding = 'x'.repeat(padding);
      for (const [name, value] of Object.entries(fields)) {
        const input = document.createElement('textarea');
        input.name = name; input.value = value; form.appendChild(input);
      }
      document.body.appendChild(form); form.submit();
    }"""
    with page.expect_navigation(timeout=LARGE_POST_TIMEOUT_MS):
        page.evaluate(script, [action, fields, padding])


def log_in(page, username: str) -> None:
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator('main form [type="submit"]').click()
    assert "/login" not in page.url, f"{username} could not log in"


def log_out(page) -> None:
    with page.expect_navigation():
        page.locator("form.logout [type=submit]").click()


def logged_out(page, audit: Audit, people: People) -> None:
    audit.check(page, "login")
    submit(page, "/login")
    audit.check(page, "login refused")
    page.locator("#username").fill(people.locked)
    page.locator("#password").fill("still wrong")
    submit(page, "/login")
    audit.check(page, "429 too many attempts")
    page.goto("/no-such-page")
    audit.check(page, "404 logged out")


def as_admin(page, audit: Audit, people: People, live_app: App) -> None:
    log_in(page, people.admin)
    audit.check(page, "dashboard, with the welcome flash")
    for path, name in [
        ("/", "dashboard"),
        ("/compose", "compose"),
        ("/send/upload", "send from a file"),
        ("/history", "history"),
        ("/history?search=no-such-message-anywhere", "history, nothing found"),
        ("/templates", "templates"),
        ("/templates/new", "new template"),
        (f"/templates/{people.template_id}/edit", "edit template"),
        ("/approvals", "approvals"),
        (f"/history/{people.waiting_id}", "a message awaiting approval"),
        ("/admin/users", "users"),
        ("/admin/users/create", "create user"),
        (f"/admin/users/{people.sender_id}", "a user's page"),
        (f"/admin/users/{people.sender_id}/password", "change password"),
        (f"/admin/users/{people.sender_id}/delete", "delete user"),
        ("/admin/departments", "departments"),
        (f"/admin/departments/{people.department_id}", "a department"),
        (f"/admin/departments/{people.empty_department_id}", "a department, no members"),
        ("/admin/messages", "all messages"),
        ("/admin/dead-letter", "dead letters"),
        ("/admin/audit", "audit log"),
        ("/admin/opt-outs", "opt-outs"),
        ("/admin/opt-outs?search=00000000", "opt-outs, nothing found"),
        (f"/admin/opt-outs?search={people.opted_out}", "opt-outs, one number's history"),
        ("/admin/dnc", "DNC register"),
        ("/admin/usage", "quota use"),
        ("/account/2fa", "two-factor enrolment"),
        ("/account/webhook", "webhook"),
        ("/api/docs", "API reference"),
    ]:
        page.goto(path)
        audit.check(page, name)

    # Every form refused, its errors shown.
    for path, action, name in [
        ("/compose", "/compose", "compose refused"),
        ("/templates/new", "/templates/new", "new template refused"),
        ("/send/upload", "/send/upload", "upload refused"),
        ("/admin/users/create", "/admin/users/create", "create user refused"),
        (
            f"/admin/users/{people.sender_id}/password",
            f"/admin/users/{people.sender_id}/password",
            "change password refused",
        ),
        ("/admin/departments", "/admin/departments", "create department refused"),
        ("/admin/opt-outs", "/admin/opt-outs", "add opt-outs refused"),
        ("/admin/dnc", "/admin/dnc", "DNC import refused"),
        ("/account/2fa", "/account/2fa", "two-factor code refused"),
        ("/account/webhook", "/account/webhook", "webhook refused"),
    ]:
        page.goto(path)
        submit(page, action)
        audit.check(page, name)
    page.goto(f"/admin/departments/{people.department_id}")
    page.locator("#monthly_segment_quota").fill("lots")
    page.locator("#approval_threshold").fill("-1")
    submit(page, f"/admin/departments/{people.department_id}")
    audit.check(page, "department limits refused")
    page.goto(f"/admin/opt-outs?search={people.opted_out}")
    submit(page, "/admin/opt-outs/", within='tr[id^="opt-out-"]')
    audit.check(page, "opt-out removal refused")
    page.goto("/approvals")
    submit(page, f"/approvals/{people.waiting_id}/reject")
    audit.check(page, "rejection refused")

    # A message still being sent (the page a sender lands on).
    phones = [phone("9", people.sender_id * 1000 + n) for n in range(PENDING_RECIPIENTS)]
    status, body = live_app.api(
        "POST",
        "/api/sms/send-bulk",
        {"recipients": phones, "content": "發送中的訊息"},
        people.admin_token,
    )
    assert status == 202, body
    page.goto(f"/history/{body['data']['id']}")
    audit.check(page, "a pending message")
    log_out(page)
    audit.check(page, "logged out, with its flash")


def as_sender(page, audit: Audit, people: People) -> None:
    log_in(page, people.sender)
    for path, name in [
        ("/", "dashboard (sender)"),
        ("/history", "history (sender)"),
        ("/history?search=no-such-message-anywhere", "history, nothing found (sender)"),
        ("/templates", "templates (sender)"),
        (f"/history/{people.waiting_id}", "own message awaiting approval"),
        ("/account/2fa", "two-factor enrolment (sender)"),
        ("/admin/users", "403 not allowed"),
        ("/no-such-page", "404 not found"),
        (f"/history/{people.waiting_id}/cancel", "405 wrong method"),
    ]:
        page.goto(path)
        audit.check(page, name)
    page.goto("/compose")
    post_by_script(page, "/compose", {"content": "no CSRF token"})
    audit.check(page, "400 bad request (no CSRF token)")
    page.goto("/compose")
    post_by_script(page, "/compose", {"content": "too large"}, padding=TOO_LARGE)
    audit.check(page, "413 too large")


def server_failures(app) -> dict[int, dict[str, str]]:
    """The 500 and 503 pages by language, drawn by an app in this process: the live app has
    no way to fail on purpose. The browser is given them as the live app's answers."""
    from sqlalchemy.exc import OperationalError

    failures = {500: RuntimeError("axe"), 503: OperationalError("SELECT 1", {}, Exception("gone"))}
    for status, exc in failures.items():

        def view(exc: Exception = exc) -> Any:
            raise exc

        app.add_url_rule(f"/axe-{status}", f"axe_{status}", view)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    pages: dict[int, dict[str, str]] = {}
    for status in failures:
        for language, header in (("en", "en"), ("zh-Hant", "zh-HK")):
            answer = client.get(f"/axe-{status}", headers={"Accept-Language": header})
            assert answer.status_code == status
            pages.setdefault(status, {})[language] = answer.get_data(as_text=True)
    return pages


def answer_with(status: int, body: str):
    def fulfil(route, request) -> None:
        route.fulfill(status=status, body=body, content_type="text/html; charset=utf-8")

    return fulfil


def failure_pages(page, audit: Audit, live_app: App, pages, language: str) -> None:
    for status, by_language in pages.items():
        url = f"{live_app.base}/axe-{status}"
        page.route(url, answer_with(status, by_language[language]))
        page.goto(url)
        audit.check(page, f"{status} server error")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_page_and_state_passes_axe(browser, live_app, people, app, size, language):
    started = time.monotonic()
    audit = Audit(f"{size} {language}")
    failures = server_failures(app)
    for page in open_tab(browser, live_app, **VIEWPORTS[size]):
        page.goto(f"/lang/{language}?next=/login")
        assert page.locator("html").get_attribute("lang").startswith(language[:2])
        logged_out(page, audit, people)
        failure_pages(page, audit, live_app, failures, language)
        as_admin(page, audit, people, live_app)
        as_sender(page, audit, people)
    print(f"axe {size} {language}: {len(audit.pages)} pages in {time.monotonic() - started:.1f}s")
    assert len(audit.pages) >= 62, audit.pages
    assert not audit.findings, audit.report()


def test_the_audit_fails_on_a_violation(browser, live_app):
    """The check can fail: an image without a text alternative is reported with its rule."""
    audit = Audit("self-check")
    for page in open_tab(browser, live_app, **VIEWPORTS["desktop"]):
        page.goto("/login")
        page.evaluate(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\">')"
        )
        audit.check(page, "login with an unlabelled image")
    assert [finding.rule for finding in audit.findings] == ["image-alt"]
    assert re.search(r"image-alt \(critical\).*img", audit.report())
