"""English and Traditional Chinese (Hong Kong): how a page's language is chosen, the switch in
every header, and Chinese in flashes, form errors, status words, plurals and counts."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import render_template_string

from smspanel.models import User, db
from smspanel.web import forms
from tests.conftest import PASSWORD
from tests.web.conftest import login, page_text
from tests.web.test_open_redirect import HOSTILE

ZH = {"Accept-Language": "zh-HK"}


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True))
    assert match, "the page has no <html lang>"
    return match.group(1)


def saved_language(app, username: str) -> str | None:
    with app.app_context():
        return db.session.query(User.language).filter_by(username=username).scalar()


# --- Choosing the language ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["zh-HK", "zh-TW", "zh-Hant", "zh-MO", "zh-Hant-HK", "zh-hk,en;q=0.5", "fr, zh-HK;q=0.8"],
)
def test_traditional_chinese_browsers_get_chinese(client, header):
    response = client.get("/login", headers={"Accept-Language": header})
    assert html_lang(response) == "zh-Hant-HK"
    assert "登入" in page_text(response)


@pytest.mark.parametrize("header", [None, "en", "en-GB", "zh-CN", "zh-Hans", "zh", "fr", "*"])
def test_every_other_browser_gets_english(client, header):
    response = client.get("/login", headers={"Accept-Language": header} if header else {})
    assert html_lang(response) == "en"
    assert "Log in" in page_text(response) and "登入" not in page_text(response)


def test_english_first_in_the_header_wins_over_chinese_later(client):
    response = client.get("/login", headers={"Accept-Language": "en-US, zh-HK;q=0.9"})
    assert html_lang(response) == "en"


def test_the_switch_sets_a_year_long_lax_http_only_cookie_and_returns_to_the_page(client):
    response = client.get("/lang/zh-Hant?next=/login")
    assert response.status_code == 302
    assert response.location == "/login"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=zh-Hant;")
    for attribute in ("Max-Age=31536000", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    assert html_lang(client.get("/login")) == "zh-Hant-HK"
    client.get("/lang/en?next=/login")
    assert html_lang(client.get("/login", headers=ZH)) == "en"


def test_a_chosen_language_wins_over_the_browsers(client):
    client.set_cookie("lang", "en")
    assert html_lang(client.get("/login", headers=ZH)) == "en"
    client.set_cookie("lang", "zh-Hant")
    assert html_lang(client.get("/login", headers={"Accept-Language": "en"})) == "zh-Hant-HK"


def test_a_cookie_naming_no_language_is_ignored(client):
    client.set_cookie("lang", "klingon")
    assert html_lang(client.get("/login", headers=ZH)) == "zh-Hant-HK"


@pytest.mark.parametrize("code", ["fr", "zh", "zh-hant", "zh-Hans", "EN", "zh_Hant_HK"])
def test_only_the_two_languages_can_be_chosen(client, code):
    response = client.get(f"/lang/{code}?next=/login")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers or "lang=" not in response.headers["Set-Cookie"]


def test_a_logged_in_choice_is_saved_and_follows_the_user_to_a_new_browser(app, user):
    first = app.test_client()
    login(first, "alice")
    assert first.get("/lang/zh-Hant?next=/history").location == "/history"
    assert saved_language(app, "alice") == "zh-Hant"

    new_browser = app.test_client()
    login(new_browser, "alice")
    page = new_browser.get("/", headers={"Accept-Language": "en"})
    assert html_lang(page) == "zh-Hant-HK"
    assert "主頁" in page_text(page)


def test_the_welcome_is_already_in_the_saved_language(app, user):
    with app.app_context():
        db.session.get(User, user.id).language = "zh-Hant"
        db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert "歡迎，alice。" in page_text(client.get(response.location))


def test_a_fresh_choice_in_this_browser_wins_over_the_saved_one(app, user):
    client = app.test_client()
    login(client, "alice")
    client.get("/lang/zh-Hant?next=/")
    client.get("/lang/en?next=/")
    assert saved_language(app, "alice") == "en"
    other = app.test_client()
    other.set_cookie("lang", "en")
    with app.app_context():
        db.session.get(User, user.id).language = "zh-Hant"
        db.session.commit()
    login(other, "alice")
    assert html_lang(other.get("/")) == "en"


def test_choosing_while_logged_out_saves_nothing(app, client, user):
    assert client.get("/lang/zh-Hant?next=/login").status_code == 302
    assert saved_language(app, "alice") is None


@pytest.mark.parametrize("next_value", [*HOSTILE, "", "lang/en"])
def test_the_switch_never_leads_off_the_site(client, next_value):
    response = client.get(f"/lang/zh-Hant?next={quote(next_value, safe='')}")
    assert response.status_code == 302
    assert response.location == "/"


def test_the_switch_without_next_goes_home(client):
    assert client.get("/lang/en").location == "/"


@pytest.mark.parametrize("next_value", ["/history?status=failed&search=road", "/templates/new"])
def test_the_switch_keeps_the_page_and_its_query(client, next_value):
    response = client.get(f"/lang/en?next={quote(next_value, safe='')}")
    assert response.location == next_value


# --- The switch in every header -----------------------------------------------------------


def switch_links(response) -> list[str]:
    body = response.get_data(as_text=True)
    nav = re.search(r'<nav class="language-switch".*?</nav>', body, flags=re.S)
    assert nav, "no language switch on the page"
    return re.findall(r"<a [^>]*>[^<]*</a>", nav.group(0))


def test_the_login_page_offers_both_languages_each_in_its_own(client):
    links = switch_links(client.get("/login?next=/history", headers=ZH))
    english, chinese = links
    assert 'href="/lang/en?next=/login?next%3D/history"' in english
    assert 'lang="en"' in english and english.endswith(">English</a>")
    assert "aria-current" not in english
    assert 'href="/lang/zh-Hant?next=/login?next%3D/history"' in chinese
    assert 'lang="zh-Hant-HK"' in chinese and chinese.endswith(">繁體中文</a>")
    assert 'aria-current="true"' in chinese


def test_the_switch_is_on_every_page_kind(user_client):
    for path in ("/", "/history", "/templates", "/templates/new", "/send/upload", "/no/such/page"):
        links = switch_links(user_client.get(path))
        assert len(links) == 2, path
        assert 'aria-current="true"' in links[0], path  # English, the default
    assert switch_links(user_client.get("/api/docs"))


# --- What a Chinese reader sees -----------------------------------------------------------


def test_pages_chrome_is_chinese(admin_client, admin):
    text = page_text(admin_client.get("/", headers=ZH))
    for words in ("主頁", "撰寫", "從檔案發送", "記錄", "範本", "用戶", "審計記錄", "登出"):
        assert words in text
    assert "所有時間均為香港時間（HKT，UTC+8）。" in text
    assert "<title>主頁 · 短訊平台</title>" in admin_client.get("/", headers=ZH).get_data(
        as_text=True
    )


def test_a_refused_login_is_in_chinese(client, user):
    response = client.post(
        "/login", data={"username": "alice", "password": "wrong password"}, headers=ZH
    )
    assert response.status_code == 401
    assert "出現問題 用戶名稱：用戶名稱或密碼不正確" in page_text(response)


def test_the_login_request_is_in_chinese(client):
    response = client.get("/history", headers=ZH)
    assert "請登入以繼續。" in page_text(client.get(response.location, headers=ZH))


def test_form_errors_are_in_chinese(admin_client):
    response = admin_client.post(
        "/admin/users/create",
        data={"username": "", "password": "short", "confirm_password": "other"},
        headers=ZH,
    )
    assert response.status_code == 422
    text = page_text(response)
    assert "請輸入用戶名稱" in text
    assert "兩次輸入的密碼不相同" in text
    assert "用戶未建立。請更正以下問題。" in text


def test_a_services_refusal_is_in_chinese(admin_client):
    response = admin_client.post(
        "/admin/users/create",
        data={"username": "dora", "password": "short", "confirm_password": "short"},
        headers=ZH,
    )
    assert "密碼最少要有 12 個字元" in page_text(response)


def test_every_validator_carries_its_own_message(app):
    """WTForms' own messages (and its Taiwan and Mainland catalogs) never reach a page."""
    with app.test_request_context():
        for form_class in vars(forms).values():
            if isinstance(form_class, type) and issubclass(form_class, forms.FlaskForm):
                for field in form_class(meta={"csrf": False}):
                    for validator in field.validators:
                        assert getattr(validator, "message", None), (form_class, field.name)


def test_statuses_are_named_in_chinese(user_client, make, user):
    make.message(user, ["91234567"], "Road works")
    make.deliver()
    text = page_text(user_client.get("/history", headers=ZH))
    assert "✓ 已發送" in text
    for label in ("等候中", "已發送", "失敗", "部分發送", "預約發送", "已取消"):
        assert label in text  # the status filter's choices


def test_english_status_words_are_unchanged(user_client, make, user):
    make.message(user, ["91234567"], "Road works")
    assert "○ Pending" in page_text(user_client.get("/history"))


def test_plurals_follow_the_count_in_english_and_chinese_has_one_form(admin_client, make):
    one, three = make.user("one"), make.user("three")
    make.message(one, ["91234567"])
    for _ in range(3):
        make.message(three, ["91234567"])
    assert "Their 1 message will be kept" in page_text(
        admin_client.get(f"/admin/users/{one.id}/delete")
    )
    assert "Their 3 messages will be kept" in page_text(
        admin_client.get(f"/admin/users/{three.id}/delete")
    )
    assert "其 3 則訊息會 保留 在記錄中" in page_text(
        admin_client.get(f"/admin/users/{three.id}/delete", headers=ZH)
    )


def test_a_template_compiled_once_follows_each_requests_language(app):
    """Nothing is worked out once for all: not even a filter on a constant."""
    template = app.jinja_env.from_string("{{ 'sent' | status_label }} {{ _('Sent') }}")
    with app.test_request_context():
        assert template.render() == "Sent Sent"
    with app.test_request_context(headers=ZH):
        assert template.render() == "已發送 已發送"


def test_counts_are_formatted_for_the_language(app):
    for header in ({}, ZH):
        with app.test_request_context(headers=header):
            assert render_template_string("{{ 1234567 | number }}") == "1,234,567"


def test_dates_stay_hong_kong_time_in_chinese(user_client, make, user):
    make.message(user, ["91234567"])
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d HKT", page_text(user_client.get("/", headers=ZH)))


def test_the_expired_form_page_is_in_chinese(app, user_client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = user_client.post("/templates/new", data={"name": "x"}, headers=ZH)
    assert response.status_code == 400
    assert "表格已過期" in page_text(response)


def test_an_unknown_page_is_a_chinese_error_page(client):
    response = client.get("/no/such/page", headers=ZH)
    assert response.status_code == 404
    assert html_lang(response) == "zh-Hant-HK"
    assert "沒有此頁面，或你無權查看。" in page_text(response)


def test_the_api_answers_in_english_whatever_the_browser_says(client, make):
    """The services' refusal is the same one the page shows in Chinese; the API's stays English."""
    response = client.post(
        "/api/sms", json={"recipient": "1234-5678", "content": "Hi"}, headers={**make.auth(), **ZH}
    )
    body = response.get_json()["error"]
    assert body["code"] == "INVALID_RECIPIENTS"
    assert "not valid Hong Kong numbers" in body["message"]


def test_the_api_reference_page_speaks_the_readers_language(client):
    response = client.get("/api/docs", headers=ZH)
    assert html_lang(response) == "zh-Hant-HK"
    assert "參考文件" in page_text(response)


def test_too_many_failed_logins_are_refused_in_chinese(client, user):
    for _ in range(10):
        client.post("/login", data={"username": "alice", "password": "wrong password!"})
    refused = client.post("/login", data={"username": "alice", "password": PASSWORD}, headers=ZH)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "失敗嘗試次數過多。請稍候再試。" in page_text(refused)
