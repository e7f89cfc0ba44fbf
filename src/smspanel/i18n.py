"""English and Traditional Chinese (Hong Kong): which one a request gets, and the catalogs.

The `.po` catalogs live in the repository; each start compiles any that changed into the
instance folder, so a fresh `make run` shows Chinese with no extra step.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request
from flask_babel import Babel, gettext, ngettext
from flask_login import current_user

from smspanel.services import wording

# Contract codes → Babel locales. zh_Hant_HK: Hong Kong's words and number formats.
LANGUAGES = {"en": "English", "zh-Hant": "繁體中文"}
BABEL_LOCALES = {"en": "en", "zh-Hant": "zh_Hant_HK"}
HTML_LANG = {"en": "en", "zh-Hant": "zh-Hant-HK"}
LANGUAGE_COOKIE = "lang"
CATALOGS = Path(__file__).parent / "translations"
# What browsers send for Traditional Chinese as read in Hong Kong, Taiwan and Macau.
TRADITIONAL_CHINESE_TAGS = ("zh-hk", "zh-tw", "zh-hant", "zh-mo")


def language_from_accept_header() -> str:
    for tag, _quality in request.accept_languages:
        lowered = tag.lower()
        if lowered.startswith(TRADITIONAL_CHINESE_TAGS):
            return "zh-Hant"
        if lowered.startswith("en"):
            return "en"
    return "en"


def current_language() -> str:
    """The contract's code for this request: a choice made with /lang, else the browser's."""
    if not has_request_context():
        return "en"  # the CLI, a background thread, a service test: English
    if request.blueprint == "api":
        return "en"  # API messages stay English whatever the caller's browser says
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    saved = getattr(current_user, "language", None) if current_user else None
    if saved in LANGUAGES:
        return saved
    return language_from_accept_header()


def _select_locale() -> str:
    return BABEL_LOCALES[current_language()]


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
    babel.init_app(app, locale_selector=_select_locale)
    wording.install(gettext, ngettext)

    @app.context_processor
    def language_context() -> dict[str, object]:
        language = current_language()
        return {
            "current_language": language,
            "html_lang": HTML_LANG[language],
            "languages": LANGUAGES,
        }
