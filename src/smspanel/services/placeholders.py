"""`((placeholders))` in a template: finding them, matching names to columns, filling them in.

Names match CSV headers and `personalisation` keys ignoring case, spaces, underscores and
hyphens, so `((First name))` takes `first_name`, `First Name` or `firstname`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\(\(([^()]*)\)\)")
_IGNORED_IN_NAMES = re.compile(r"[\s_\-]+")


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
        keyed.setdefault(name_key(str(key)), "" if value is None else str(value).strip())
    return keyed


def render(content: str, values_by_key: Mapping[str, str]) -> Rendering:
    """Fill every placeholder from `values_by_key` (see `personalisation_by_key`)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        key = name_key(name)
        if not key:
            return match.group(0)  # `(( ))` is not a placeholder: left as written
        value = values_by_key.get(key, "")
        if not value:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return value

    return Rendering(PLACEHOLDER.sub(fill, content), missing)
