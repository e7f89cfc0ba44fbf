"""The zh_Hant_HK catalog covers every message of the code, in Hong Kong's words.

Messages are extracted as `make messages` does (babel.cfg, the same keywords), so a string
wrapped anywhere in the templates or the Python code fails here until it is translated.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "src/smspanel/translations/zh_Hant_HK/LC_MESSAGES/messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}  # the Makefile's -k _ -k lazy_gettext ...
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Taiwan's and Mainland's words for what Hong Kong calls 短訊, 用戶, 上載, 網絡, 帳戶, 軟件,
# 訊息, 預設, 資料夾, 影片, 螢幕, 登入, 登出, 連結, 選單; and characters only Simplified
# Chinese writes.
NOT_HONG_KONG = (
    "簡訊", "短信", "用户", "上傳", "網路", "帳號", "账号", "軟體", "软件", "信息",
    "默認", "文件夾", "視頻", "屏幕", "登錄", "註銷", "鏈接", "菜單",
)  # fmt: skip
SIMPLIFIED_ONLY = set("这个们发时间设删录户码号话务认证错误说请输择态页载钮选项复传网络软")


@cache
def extracted() -> dict[str, tuple[str, ...]]:
    """Every message in the code: msgid → (msgid[, plural]), with where it was found."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, tuple[str, ...]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        if ids[0]:
            found.setdefault(ids[0], (*ids, f"{filename}:{lineno}"))
    return found


@cache
def catalog() -> Catalog:
    with CATALOG.open("rb") as source:
        return read_po(source)


def translations() -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(msgid, every msgid form, every msgstr form) for each translated entry."""
    entries = []
    for message in catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        entries.append((ids[0], ids, tuple(s for s in strings if s)))
    return entries


def test_the_code_has_messages_to_translate():
    assert len(extracted()) > 300
    assert "Log in" in extracted() and "password is too common; choose another" in extracted()


def test_every_message_has_a_chinese_translation():
    untranslated = []
    for msgid, (*_forms, where) in extracted().items():
        message = catalog().get(msgid)
        if message is None:
            untranslated.append(f"{where}: {msgid!r} is not in the catalog (run make messages)")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s.strip() for s in strings):
            untranslated.append(f"{where}: {msgid!r} has no translation yet")
    assert not untranslated, "\n".join(untranslated)


def test_plurals_have_one_chinese_form_that_fits_every_count():
    assert catalog().num_plurals == 1
    for msgid, ids, strings in translations():
        if len(ids) == 2:
            assert len(strings) == 1, msgid


def test_translations_use_hong_kong_words():
    wrong = []
    for msgid, _ids, strings in translations():
        for text in strings:
            words = [w for w in NOT_HONG_KONG if w in text]
            simplified = sorted(SIMPLIFIED_ONLY.intersection(text))
            if words or simplified:
                wrong.append(f"{msgid!r}: {text!r} has {words + simplified}")
    assert not wrong, "\n".join(wrong)


def test_translations_keep_the_placeholders_of_their_message():
    """A placeholder lost or renamed would fail at run time (or show the wrong value)."""
    wrong = []
    for msgid, ids, strings in translations():
        expected = set(PLACEHOLDER.findall(ids[-1]))  # Chinese has the plural's one form
        if len(ids) == 2:
            expected.discard("num")  # a Chinese form may leave the count to the context
        for text in strings:
            names = set(PLACEHOLDER.findall(text))
            if not expected <= names or not names <= set(PLACEHOLDER.findall(" ".join(ids))):
                wrong.append(f"{msgid!r}: {text!r} has {sorted(names)}")
                continue
            try:
                text % dict.fromkeys(names | {"num"}, "x")
            except (ValueError, TypeError, KeyError) as exc:
                wrong.append(f"{msgid!r}: {text!r} cannot be filled in ({exc})")
    assert not wrong, "\n".join(wrong)


def test_chinese_sentences_use_full_width_punctuation():
    """Full-width marks in Chinese sentences; ASCII ones only in codes, numbers and examples."""
    wrong = []
    for msgid, _ids, strings in translations():
        for text in strings:
            prose = re.sub(r"<[^>]+>|%\(\w+\)s|\([^)]*[A-Za-z0-9][^)]*\)", "", text)
            if re.search(r"[\u4e00-\u9fff][,.:;?!]|[,.:;?!][\u4e00-\u9fff]", prose):
                wrong.append(f"{msgid!r}: {text!r}")
    assert not wrong, "\n".join(wrong)
