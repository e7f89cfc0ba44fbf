"""English and Traditional Chinese (Hong Kong): which one a request gets, and the catalogs.

The `.po` catalogs live in the repository; each start compiles any that changed into the
instance folder, so a fresh `make run` shows Chinese with no extra step.

Which language: a choice made with /lang (the `lang` cookie) wins; then the logged-in
user's saved choice (so it follows them to a new browser); then the browser's
Accept-Language; else English. API answers are always English (their `code`s never change).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import flask_babel
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, request, url_for
from flask_babel import Babel, format_decimal, get_translations
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from smspanel.services import wording

# Contract codes → their names, each in its own language. zh_Hant_HK: Hong Kong's words and
# number formats.
LANGUAGES = {"en": "English", "zh-Hant": "繁體中文"}
assert tuple(LANGUAGES) == wording.LANGUAGE_CODES
BABEL_LOCALES = {"en": "en", "zh-Hant": "zh_Hant_HK"}
HTML_LANG = {"en": "en", "zh-Hant": "zh-Hant-HK"}
LANGUAGE_COOKIE = "lang"
CATALOGS = Path(__file__).parent / "translations"
# What browsers send for Traditional Chinese as read in Hong Kong, Taiwan and Macau.
TRADITIONAL_CHINESE_TAGS = ("zh-hk", "zh-tw", "zh-hant", "zh-mo")
# The API's one HTML page speaks the reader's language; everything else under /api is English.
TRANSLATED_API_ENDPOINTS = frozenset({"api.docs_page"})
# Han ideographs (the basic block, extensions A to G, compatibility forms) and Bopomofo.
HAN = re.compile(
    "[\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)
LATIN_WORD = re.compile("[A-Za-z]+")


def language_from_accept_header() -> str:
    for tag, _quality in request.accept_languages:
        lowered = tag.lower().replace("_", "-")
        if lowered.startswith(TRADITIONAL_CHINESE_TAGS):
            return "zh-Hant"
        if lowered.startswith("en"):
            return "en"
    return "en"


def _saved_language() -> str | None:
    """The logged-in user's saved choice. Not looked up while the database is failing
    (an error page must not ask it again), nor before Flask-Login has loaded the user."""
    if g.get("language_without_account"):
        return None
    return getattr(current_user, "language", None) if current_user else None


def current_language() -> str:
    """The contract's code for this request: a choice made with /lang, the user's saved
    choice, else the browser's. English outside a request (worker, CLI)."""
    if not has_request_context():
        return "en"
    if request.blueprint == "api" and request.endpoint not in TRANSLATED_API_ENDPOINTS:
        return "en"  # API messages stay English whatever the caller's browser says
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    saved = _saved_language()
    if saved in LANGUAGES:
        return saved
    return language_from_accept_header()


def _select_locale() -> str:
    return BABEL_LOCALES[current_language()]


def translations():
    """This request's catalog. Flask-Babel looks it up again on every call (about 30 µs);
    a page asks for dozens of words, so it is looked up once a request (`refresh` forgets it)."""
    if not has_request_context():
        return get_translations()
    found = g.get("translations")
    if found is None:
        found = g.translations = get_translations()
    return found


def refresh() -> None:
    """After a login: the user's saved language may differ from the one chosen so far."""
    flask_babel.refresh()
    g.pop("translations", None)


def gettext(message: str) -> str:
    return translations().ugettext(message)


def ngettext(singular: str, plural: str, num: int) -> str:
    return translations().ungettext(singular, plural, num)


def number(value: object) -> str:
    """A count as the reader's language writes it (1,234)."""
    if value is None or value == "":
        return ""
    return format_decimal(value)


# As filters they take the context only so that Jinja never computes them once,
# at compile time, for a constant: the words depend on each request's language.
@pass_context
def status_label_filter(_context: Context, status: object) -> str:
    return wording.status_label(status)


@pass_context
def number_filter(_context: Context, value: object) -> str:
    return number(value)


def text_language(text: object) -> str | None:
    """The `lang` of a text someone typed (a message, a template) when it reads as Chinese,
    for a screen reader's voice and a browser's fonts; None leaves the page's own.

    A simple script check: Chinese when it has at least as many Han characters as Latin
    words, so a Chinese name in an English sentence stays English."""
    if not isinstance(text, str):
        return None
    han = len(HAN.findall(text))
    if han and han >= len(LATIN_WORD.findall(text)):
        return HTML_LANG["zh-Hant"]
    return None


def lang_attribute(text: object) -> Markup:
    """` lang="zh-Hant-HK"` for a Chinese text, else nothing: `<p{{ text | lang_attribute }}>`."""
    language = text_language(text)
    return Markup(' lang="{}"').format(language) if language else Markup("")


def language_links() -> list[dict[str, object]]:
    """The header's switch: each language's link back to this page, in that language."""
    here = request.full_path if request.query_string else request.path
    chosen = current_language()
    return [
        {
            "code": code,
            "name": name,
            "html_lang": HTML_LANG[code],
            "url": url_for("language.choose", code=code, next=here),
            "current": code == chosen,
        }
        for code, name in LANGUAGES.items()
    ]


def compile_catalogs(target: Path) -> Path:
    """Compile each `.po` whose `.mo` in `target` is missing or older; several processes may
    start at once, so each writes a private file and renames it into place."""
    for po in CATALOGS.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(CATALOGS).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source:
            catalog = read_po(source)
        fd, temporary = tempfile.mkstemp(dir=mo.parent, prefix=".messages.")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(temporary, mo)
    return target


babel = Babel()


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(Path(app.instance_path) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    # WTForms' own catalogs are Taiwan's and Mainland's words: every validator here carries
    # its own message (web/forms.py), translated by our catalog.
    app.config.setdefault("WTF_I18N_ENABLED", False)
    babel.init_app(app, locale_selector=_select_locale)
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    wording.install(gettext, ngettext)
    app.add_template_filter(status_label_filter, "status_label")
    app.add_template_filter(number_filter, "number")
    app.add_template_filter(lang_attribute, "lang_attribute")

    @app.context_processor
    def language_context() -> dict[str, object]:
        language = current_language()
        return {
            "current_language": language,
            "html_lang": HTML_LANG[language],
            "languages": LANGUAGES,
            "language_links": language_links,
        }
