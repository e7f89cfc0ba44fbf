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
