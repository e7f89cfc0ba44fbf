"""`((placeholders))` in a template: finding them, matching names to columns, filling them in.

Names match CSV headers and `personalisation` keys ignoring case, spaces, underscores and
hyphens, so `((First name))` takes `first_name`, `First Name` or `firstname`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDER = re.compile(r"\(\(([^()]*)\)\)")
_IGNORED_IN_NAMES = re.compile(r"[\s_\-]+")


@lru_cache(maxsize=4096)  # a send's rows repeat the same few column names
def name_key(name: str) -> str:
    """The form two names share when they match: `First name` and `first_name` → `firstname`."""
    return _IGNORED_IN_NAMES.sub("", name).casefold()


def placeholders(content: str) -> list[str]:
    """Placeholder names in order of first appearance, each once (by matching name)."""
    seen: dict[str, str] = {}
    for match in PLACEHOLDER.finditer(content):
        name = match.group(1).strip()
        key = name_key(name)
        if key and key not in seen:
            seen[key] = name
    return list(seen.values())


@dataclass(frozen=True)
class Rendering:
    text: str
    missing: list[str]  # placeholder names with no value, or only white space


def personalisation_by_key(values: Mapping[str, object]) -> dict[str, str]:
    """Values by matching name; the first of two keys that match the same name wins."""
    keyed: dict[str, str] = {}
    for key, value in values.items():
        matching = name_key(key if type(key) is str else str(key))
        if matching not in keyed:
            if type(value) is str:  # nearly always: skip the conversion
                keyed[matching] = value.strip()
            else:
                keyed[matching] = "" if value is None else str(value).strip()
    return keyed


@dataclass(frozen=True)
class _Cut:
    """A template cut once, so every row of a send renders from it: each piece is (text
    before, placeholder as written, its key), the last with no placeholder; `pattern` is
    the same text for `str.format`, one field per distinct key, in the order of `keys`."""

    pieces: tuple[tuple[str, str, str], ...]
    keys: tuple[str, ...]
    pattern: str


@lru_cache(maxsize=64)
def _cut(content: str) -> _Cut:
    pieces = []
    keys: dict[str, int] = {}
    pattern = []
    start = 0
    for match in PLACEHOLDER.finditer(content):
        key = name_key(match.group(1).strip())
        if not key:
            continue  # `(( ))` is not a placeholder: left as written
        before = content[start : match.start()]
        pieces.append((before, match.group(0), key))
        pattern.append(_literal(before) + "{" + str(keys.setdefault(key, len(keys))) + "}")
        start = match.end()
    pieces.append((content[start:], "", ""))
    pattern.append(_literal(content[start:]))
    return _Cut(tuple(pieces), tuple(keys), "".join(pattern))


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render(content: str, values_by_key: Mapping[str, str]) -> Rendering:
    """Fill every placeholder from `values_by_key` (see `personalisation_by_key`); one
    with no value is left as written and named in `missing`, once."""
    cut = _cut(content)
    values = [values_by_key.get(key, "") for key in cut.keys]
    if all(values):
        return Rendering(cut.pattern.format(*values), [])
    missing: dict[str, str] = {}
    parts = []
    for before, written, key in cut.pieces:
        parts.append(before)
        if not written:
            continue
        value = values_by_key.get(key, "")
        if value:
            parts.append(value)
        else:
            missing.setdefault(key, written[2:-2].strip())
            parts.append(written)
    return Rendering("".join(parts), list(missing.values()))
