"""The GOV.UK error pattern on every form: a refused form answers with a focused summary at
the top ("There is a problem") listing every problem at once, each a link to its field; the
title starts "Error: "; each field at fault has aria-invalid and its message tied to it by
aria-describedby; hints sit outside the labels and are tied the same way."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from smspanel.models import db
from smspanel.services.sending import accept_send
from tests.web.conftest import login

ZH = {"Accept-Language": "zh-HK"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    words: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = list(self.words) + [child.text() for child in self.children]
        return re.sub(r"\s+", " ", " ".join(parts)).strip()

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag:
                return True
            node = node.parent
        return False


class Page(HTMLParser):
    """Just enough of a DOM to follow ids, labels and aria attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.open = self.root
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.open)
        self.open.children.append(element)
        if tag not in VOID:
            self.open = element

    def handle_endtag(self, tag):
        node = self.open
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.open = node.parent

    def handle_data(self, data):
        self.open.words.append(data)

    def all(self, predicate: Callable[[Element], bool]) -> list[Element]:
        return [element for element in self.root.walk() if predicate(element)]

    def by_id(self, id_: str) -> Element:
        found = self.all(lambda e: e.attrs.get("id") == id_)
        assert len(found) == 1, f"{len(found)} elements with id {id_!r}"
        return found[0]

    def title(self) -> str:
        return self.all(lambda e: e.tag == "title")[0].text()


def assert_error_pattern(response, fields: list[str], heading: str = "There is a problem"):
    """The whole pattern, for a refused form whose problems are on `fields` (control ids)."""
    assert 400 <= response.status_code < 500, response.status_code
    page = Page(response.get_data(as_text=True))
    assert page.title().startswith(("Error: ", "錯誤：")), page.title()

    summary = page.by_id("error-summary")
    assert summary.attrs.get("role") == "alert" and summary.attrs.get("tabindex") == "-1"
    assert "autofocus" in summary.attrs
    first_in_main = page.by_id("main").children[0]
    assert first_in_main is summary, "the summary is the first thing in <main>"
    assert summary.children[0].tag == "h2" and summary.children[0].text() == heading
    links = [a.attrs["href"] for a in summary.walk() if a.tag == "a"]
    assert sorted(set(links)) == sorted(f"#{name}" for name in fields), links

    shown = 0
    for name in fields:
        control = page.by_id(name)
        assert control.attrs.get("aria-invalid") == "true", name
        described = control.attrs.get("aria-describedby", "").split()
        messages = [page.by_id(i) for i in described if "error" in i]
        assert messages and all(m.text() for m in messages), f"{name}: {described}"
        shown += sum(len([li for li in m.walk() if li.tag == "li"]) for m in messages)
    summary_items = [li for li in summary.walk() if li.tag == "li"]
    assert len(summary_items) >= len(fields) and shown >= len(fields)
    assert_hints_outside_labels(page)
    return page


def assert_hints_outside_labels(page: Page) -> None:
    hints = page.all(lambda e: "hint" in e.attrs.get("class", "").split())
    inside = [h.text() for h in hints if h.inside("label")]
    assert not inside, f"hints inside a <label>: {inside}"
    described = {
        i for e in page.all(lambda e: "aria-describedby" in e.attrs)
        for i in e.attrs["aria-describedby"].split()
    }  # fmt: skip
    for hint in hints:
        if hint.attrs.get("id") and hint.inside("form"):
            assert hint.attrs["id"] in described, f"hint {hint.attrs['id']} is tied to nothing"
    for control in page.all(lambda e: "aria-describedby" in e.attrs):
        for i in control.attrs["aria-describedby"].split():
            page.by_id(i)  # every id named exists, once


@pytest.fixture
def office(make):
    return make.department("Housing", threshold=2)


def test_login_refused_says_so_in_the_summary_and_the_title(client, user):
    response = login(client, "alice", "not the password")
    page = assert_error_pattern(response, ["username"])
    assert "Username: invalid username or password" in page.by_id("error-summary").text()
    assert page.title() == "Error: Log in · SMS Panel"
    assert "autofocus" not in page.by_id("username").attrs  # the summary has the focus


def test_create_user_names_every_problem_at_once(admin_client):
    response = admin_client.post(
        "/admin/users/create",
        data={
            "username": "x!",
            "password": "short",
            "confirm_password": "other",
            "department_id": "999",
            "role": "sender",
        },
    )
    assert response.status_code == 422
    page = assert_error_pattern(
        response, ["username", "password", "confirm_password", "department_id"]
    )
    text = page.by_id("error-summary").text()
    for problem in (
        "username must be 3-64 characters",
        "password must be at least 12 characters",
        "the two passwords do not match",
        "there is no department '999'",
    ):
        assert problem in text
    assert text.index("Username") < text.index("Department")  # in the order of the form


def test_a_taken_username_and_a_weak_password_together(admin_client, admin):
    response = admin_client.post(
        "/admin/users/create",
        data={"username": admin.username, "password": "short", "confirm_password": "short"},
    )
    page = assert_error_pattern(response, ["username", "password"])
    assert "already taken" in page.by_id("username-errors").text()


def test_change_password_names_both_problems(admin_client, user):
    response = admin_client.post(
        f"/admin/users/{user.id}/password", data={"password": "short", "confirm_password": "x"}
    )
    assert_error_pattern(response, ["password", "confirm_password"])


def test_compose_refused(user_client):
    response = user_client.post("/compose", data={"recipients": "", "content": ""})
    assert_error_pattern(response, ["recipients", "content", "enquiry_number"])


def test_a_template_refused(user_client):
    response = user_client.post("/templates/new", data={"name": "", "content": ""})
    assert_error_pattern(response, ["name", "content"])


def test_an_upload_refused(user_client):
    response = user_client.post("/send/upload", data={}, content_type="multipart/form-data")
    assert_error_pattern(response, ["template_id", "file"])


def test_opt_outs_refused(admin_client):
    response = admin_client.post("/admin/opt-outs", data={"phones": "12", "reason": ""})
    assert_error_pattern(response, ["phones"])


def test_an_opt_out_removal_without_a_reason(admin_client):
    admin_client.post("/admin/opt-outs", data={"phones": "91234567"})
    response = admin_client.post("/admin/opt-outs/91234567/remove", data={"reason": ""})
    page = Page(response.get_data(as_text=True))
    [field_id] = [a.attrs["href"][1:] for a in page.by_id("error-summary").walk() if a.tag == "a"]
    assert_error_pattern(response, [field_id])


def test_a_department_refused(admin_client):
    assert_error_pattern(admin_client.post("/admin/departments", data={"name": ""}), ["name"])


def test_department_limits_name_both_problems(admin_client, office):
    response = admin_client.post(
        f"/admin/departments/{office.id}",
        data={"monthly_segment_quota": "lots", "approval_threshold": "-1"},
    )
    assert_error_pattern(response, ["monthly_segment_quota", "approval_threshold"])


def test_a_rejection_without_a_reason(app, client, make, office):
    maker = make.user("maker", department=office)
    make.user("checker", department=office, role="approver")
    with app.app_context():
        message_id = accept_send(db.session, maker.id, ["91234567", "98765432"], "Hi", None).id
    login(client, "checker")
    response = client.post(f"/approvals/{message_id}/reject", data={"reason": ""})
    assert_error_pattern(response, [f"reason-{message_id}"])


def test_a_wrong_two_factor_code(user_client):
    user_client.get("/account/2fa")
    assert_error_pattern(user_client.post("/account/2fa", data={"code": "000000"}), ["code"])


def test_a_dnc_import_without_a_file(admin_client):
    response = admin_client.post(
        "/admin/dnc", data={"file": (io.BytesIO(b""), "")}, content_type="multipart/form-data"
    )
    assert_error_pattern(response, ["file"])


def test_the_pattern_in_chinese(admin_client):
    response = admin_client.post(
        "/admin/users/create", data={"username": "", "password": ""}, headers=ZH
    )
    page = assert_error_pattern(response, ["username", "password", "confirm_password"], "出現問題")
    assert page.title().startswith("錯誤：建立用戶")
    assert "錯誤：" in page.by_id("username-errors").text()  # read out before the message


@pytest.mark.parametrize(
    "path", ["/compose", "/templates/new", "/send/upload", "/account/2fa", "/history"]
)
def test_pages_not_refused_have_no_summary_and_hints_outside_labels(user_client, path):
    response = user_client.get(path)
    page = Page(response.get_data(as_text=True))
    assert not page.all(lambda e: e.attrs.get("id") == "error-summary")
    assert not page.title().startswith("Error")
    assert_hints_outside_labels(page)


@pytest.mark.parametrize(
    "path",
    ["/admin/users/create", "/admin/departments", "/admin/opt-outs", "/admin/dnc", "/login"],
)
def test_admin_pages_keep_hints_outside_labels(admin_client, path):
    assert_hints_outside_labels(Page(admin_client.get(path).get_data(as_text=True)))


def test_a_success_flash_is_a_focusable_region_after_the_redirect(admin_client):
    response = admin_client.post(
        "/admin/departments", data={"name": "Lands"}, follow_redirects=True
    )
    flashes = Page(response.get_data(as_text=True)).by_id("flashes")
    assert flashes.attrs.get("tabindex") == "-1" and flashes.attrs.get("role") == "status"
    assert "Created department Lands." in flashes.text()


def test_a_webhook_refused(user_client):
    response = user_client.post("/account/webhook", data={"url": "ftp://example.com"})
    assert response.status_code == 422
    page = Page(response.get_data(as_text=True))
    assert page.title().startswith("Error: ")
    links = [a.attrs["href"] for a in page.by_id("error-summary").walk() if a.tag == "a"]
    assert links == ["#url", "#events"]  # no event chosen: named too, at the first box
    url = page.by_id("url")
    assert url.attrs["aria-invalid"] == "true"
    assert url.attrs["aria-describedby"] == "url-hint url-errors"
    fieldset = page.all(lambda e: e.tag == "fieldset")[0]
    assert fieldset.attrs["aria-describedby"] == "events-hint events-errors"
    assert page.by_id("events").attrs["aria-invalid"] == "true"
    assert page.by_id("events-errors").text()
    assert_hints_outside_labels(page)
