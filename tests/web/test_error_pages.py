"""What a browser sees when something breaks: a full page in the reader's language with a
title, a heading and a way back; API clients keep getting JSON."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.exc import OperationalError

ZH = {"Accept-Language": "zh-HK"}


def broken(app, exc: Exception, path: str = "/broken") -> None:
    def view():
        raise exc

    app.add_url_rule(path, "broken", view)
    app.config["PROPAGATE_EXCEPTIONS"] = False


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S).group(1)


def lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


@pytest.mark.parametrize(
    ("exc", "status", "english", "chinese"),
    [
        (RuntimeError("bug"), 500, "Something went wrong", "系統出錯"),
        (
            OperationalError("SELECT 1", {}, Exception("gone")),
            503,
            "Service unavailable",
            "服務暫時無法使用",
        ),
    ],
)
def test_a_server_failure_is_a_whole_page_in_the_readers_language(
    app, client, exc, status, english, chinese
):
    broken(app, exc)
    page = client.get("/broken")
    assert page.status_code == status
    assert page.content_type.startswith("text/html")
    assert english in title(page) and lang(page) == "en"
    assert f"<h1>{english}</h1>" in page.get_data(as_text=True)
    assert 'href="/"' in page.get_data(as_text=True)
    chinese_page = client.get("/broken", headers=ZH)
    assert chinese in title(chinese_page) and lang(chinese_page) == "zh-Hant-HK"


def test_the_api_still_answers_json_when_it_breaks(app, client):
    broken(app, RuntimeError("bug"), "/api/broken")
    answer = client.get("/api/broken")
    assert answer.status_code == 500
    assert answer.get_json()["error"]["code"] == "INTERNAL_ERROR"


def produce(app, client, status: int, headers: dict[str, str]):
    """Each client error as a browser meets it."""
    if status == 400:  # a form posted without its CSRF token
        app.config["WTF_CSRF_ENABLED"] = True
        return client.post("/login", data={"username": "x"}, headers=headers)
    if status == 403:
        return client.get("/admin/users", headers=headers)
    if status == 404:
        return client.get("/no-such-page", headers=headers)
    if status == 405:
        return client.get("/history/1/cancel", headers=headers)
    if status == 413:
        app.config["MAX_CONTENT_LENGTH"] = 1024
        return client.post("/compose", data={"content": "x" * 2048}, headers=headers)
    client.post("/logout")
    for _ in range(10):  # 429: the account's failed logins are used up
        client.post("/login", data={"username": "ghost", "password": "wrong"})
    return client.post("/login", data={"username": "ghost", "password": "wrong"}, headers=headers)


@pytest.mark.parametrize(
    ("status", "english", "chinese"),
    [
        (400, "Form expired", "表格已過期"),
        (403, "Not allowed", "不允許"),
        (404, "Not found", "找不到"),
        (405, "Not allowed", "不允許"),
        (413, "Too large", "太大"),
        (429, "Too many attempts", "嘗試次數過多"),
    ],
)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_client_error_is_a_whole_page_in_the_readers_language(
    app, user_client, status, english, chinese, language
):
    headers = ZH if language == "zh" else {}
    page = produce(app, user_client, status, headers)
    assert page.status_code == status
    assert page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    expected = chinese if language == "zh" else english
    assert lang(page) == ("zh-Hant-HK" if language == "zh" else "en")
    assert title(page).startswith(expected), title(page)
    assert re.search(rf"<h1>{expected}[^<]*</h1>", html)
    assert re.search(r'<main id="main"[^>]*>.*<a href="[^"]+">[^<]+</a>', html, re.S)  # a way back
