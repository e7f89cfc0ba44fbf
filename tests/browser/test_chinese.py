"""In a real browser on a phone-sized screen: switch to 繁體中文 with the header's link, walk
every page the navigation leads to, and find no English word of the interface left and
nothing wider than the screen.

User content (usernames, message texts, numbers), codes people type (`<code>`) and elements
marked `translate="no"`, `data-user-content` or `lang="en"` (the API reference, the link
"English") are not the interface and are left out. A few product and format names are
written the same in both languages (ALLOWED).
"""

from __future__ import annotations

import re

import pytest

from loopback import App, wait_until
from tests.browser.conftest import open_tab, screenshot

USERNAME, PASSWORD = "chan", "a phrase for the Chinese walk"
USERNAMES = {"SMSadmin", USERNAME}
DELIVERY_TIMEOUT_S = 30
ALLOWED = {
    "SMS", "API", "CSV", "HKT", "UTC", "smspanel", "GSM", "UCS", "Excel", "xlsx", "UTF",
    "BOM", "Big", "MB", "KB", "ISO", "YYYY", "MM", "DD", "HH", "zip", "HTTP",
}  # fmt: skip

VISIBLE_TEXT = """() => {
  const notInterface = '[translate="no"], [data-user-content], code, kbd, pre, script, style, '
    + '[lang]:not(html):not([lang^="zh"])';
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, element = node.parentElement;
    if (!element || !node.textContent.trim() || element.closest(notInterface)) continue;
    const shown = element.closest('option') || (element.getClientRects().length
      && getComputedStyle(element).visibility !== 'hidden');
    if (shown) texts.push(node.textContent);
  }
  for (const element of document.querySelectorAll(
      '[placeholder], [aria-label], [title], [data-confirm], [data-copied-label]')) {
    if (element.closest(notInterface)) continue;
    for (const name of ['placeholder', 'aria-label', 'title', 'data-confirm',
                        'data-copied-label']) {
      if (!element.hasAttribute(name)) continue;
      // A confirmation may name the user its row is about: that name is theirs.
      const owner = element.closest('[data-username]');
      const text = element.getAttribute(name);
      texts.push(owner ? text.replaceAll(owner.dataset.username, '') : text);
    }
  }
  return texts.join('\\n');
}"""
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def english_words(page) -> list[str]:
    text = page.evaluate(VISIBLE_TEXT)
    # Usernames (in page titles too) and the audit log's references to records (user:3) are
    # data, not the interface.
    text = re.sub(r"\b(?:user|message|template|dead_letter):\d+", " ", text)
    words = set(re.findall(r"[A-Za-z]{2,}", text)) - ALLOWED - USERNAMES
    return sorted(words)


def create_admin(live_app: App) -> None:
    """An admin of this test's own: SMSadmin's saved language stays English for the others."""
    result = live_app.flask("create-user", USERNAME, "--admin", "--password", PASSWORD)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def walker(live_app: App) -> dict[str, int]:
    """The walk's admin, with a delivered message, a failed one (a dead letter) and a
    template, made through the API."""
    create_admin(live_app)
    token = live_app.token(USERNAME, PASSWORD)
    status, body = live_app.api(
        "POST", "/api/templates", {"name": "停水通知", "content": "((姓名))你好，明日停水。"}, token
    )
    assert status == 201, body
    template_id = body["data"]["id"]
    status, body = live_app.api(
        "POST", "/api/sms", {"recipient": "91234567", "content": "明日上午停水。"}, token
    )
    assert status == 202, body
    sent_id = body["data"]["id"]
    status, body = live_app.api(
        "POST", "/api/sms", {"recipient": "69990002", "content": "停水 error"}, token
    )
    assert status == 202, body
    failed_id = body["data"]["id"]
    wait_until(
        lambda: (
            live_app.api("GET", f"/api/sms/{failed_id}", token=token)[1]["data"]["status"]
            == "failed"
        ),
        DELIVERY_TIMEOUT_S,
        what="the failing send to reach the dead-letter queue",
    )
    return {"template": template_id, "message": sent_id}


def nav_paths(page) -> set[str]:
    links = page.locator("header nav[aria-label] ul.nav a")
    return {link.get_attribute("href") for link in links.all()}


def log_in(page, label_username: str, label_password: str, button: str) -> None:
    page.get_by_label(label_username).fill(USERNAME)
    page.get_by_label(label_password).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_url("**/")


def test_every_page_in_traditional_chinese_on_a_phone(browser, live_app, walker, tmp_path):
    ids = walker
    for page in open_tab(
        browser,
        live_app,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ):
        page.goto("/login")
        log_in(page, "Username", "Password", "Log in")
        page.locator(".language-switch").get_by_role("link", name="繁體中文").click()
        page.wait_for_url("**/")
        expect()(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
        expect()(page.get_by_role("heading", name="主頁")).to_be_visible()
        expect()(page.locator('.language-switch a[aria-current="true"]')).to_have_text("繁體中文")

        csv = tmp_path / "recipients.csv"
        csv.write_text("phone,姓名\n91234567,陳大文\n", encoding="utf-8")
        page.goto("/send/upload")
        page.locator("#template_id").select_option(str(ids["template"]))
        page.locator("#file").set_input_files(str(csv))
        page.get_by_role("button", name="上載並檢查").click()
        page.wait_for_url(re.compile(r"/send/check/[0-9a-f]{32}$"))
        check_path = page.url.removeprefix(live_app.base)

        page.goto("/admin/departments")
        page.locator("#name").fill("衞生署")
        page.get_by_role("button", name="建立部門").click()
        page.wait_for_url(re.compile(r"/admin/departments/\d+$"))
        department_path = page.url.removeprefix(live_app.base)

        page.goto("/")
        walk = {
            "dashboard": "/",
            "compose": "/compose",
            "history": "/history",
            "message detail": f"/history/{ids['message']}",
            "templates": "/templates",
            "new template": "/templates/new",
            "edit template": f"/templates/{ids['template']}/edit",
            "send from a file": "/send/upload",
            "send check": check_path,
            "users": "/admin/users",
            "create user": "/admin/users/create",
            "change password": "/admin/users/1/password",
            "delete user": "/admin/users/1/delete",
            "all messages": "/admin/messages",
            "dead letters": "/admin/dead-letter",
            "audit log": "/admin/audit",
            "opt-outs": "/admin/opt-outs",
            "dnc register": "/admin/dnc",
            "two-factor sign-in": "/account/2fa",
            "webhook": "/account/webhook",
            "user": "/admin/users/1",
            "departments": "/admin/departments",
            "department": department_path,
            "usage": "/admin/usage",
            "approvals": "/approvals",
            "api docs": "/api/docs",
            "error page": "/no/such/page",
        }
        assert nav_paths(page) <= set(walk.values()), "a page of the navigation is not walked"

        english, overflowing = {}, {}
        for name, path in walk.items():
            page.goto(path)
            expect()(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
            if words := english_words(page):
                english[name] = words
            if (excess := page.evaluate(OVERFLOW)) > 1:
                overflowing[name] = excess
            if name == "dashboard":
                screenshot(page, "zh-phone-dashboard")
        page.goto("/")
        page.get_by_role("button", name="登出").click()
        page.wait_for_url("**/login")
        expect()(page.get_by_role("heading", name="登入")).to_be_visible()
        if words := english_words(page):
            english["login"] = words
        if (excess := page.evaluate(OVERFLOW)) > 1:
            overflowing["login"] = excess
        assert not english, f"English words left on pages in Chinese: {english}"
        assert not overflowing, f"pages wider than a 390 px screen (px too wide): {overflowing}"


def test_the_login_page_switches_and_a_saved_choice_follows_to_a_new_browser(
    browser, live_app, walker
):
    desktop = {"viewport": {"width": 1280, "height": 860}}
    for page in open_tab(browser, live_app, **desktop):
        page.goto("/login")
        expect()(page.locator("html")).to_have_attribute("lang", "en")
        page.locator(".language-switch").get_by_role("link", name="繁體中文").click()
        expect()(page.get_by_role("heading", name="登入")).to_be_visible()
        expect()(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
        screenshot(page, "zh-login")
        log_in(page, "用戶名稱", "密碼", "登入")
        expect()(page.get_by_role("heading", name="主頁")).to_be_visible()
        page.locator(".language-switch").get_by_role("link", name="繁體中文").click()
        page.wait_for_url("**/")  # chosen while logged in: saved with the account
    for page in open_tab(browser, live_app, **desktop):
        page.goto("/login")
        log_in(page, "Username", "Password", "Log in")
        expect()(page.get_by_role("heading", name="主頁")).to_be_visible()
        screenshot(page, "zh-dashboard")
        page.goto("/history")
        screenshot(page, "zh-history")
        page.goto("/admin/users")
        screenshot(page, "zh-admin-users")
        page.locator(".language-switch").get_by_role("link", name="English").click()
        expect()(page.get_by_role("heading", name="Users")).to_be_visible()
