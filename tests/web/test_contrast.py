"""WCAG 1.4.11 from the style sheets themselves: the focus indicator and the controls' borders
at 3:1 or better against every background they appear on, and focused text readable. The
colours are read from the CSS custom properties, so a changed colour fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).parents[2] / "src" / "smspanel" / "static" / "css"
NON_TEXT = 3.0  # WCAG 1.4.11
TEXT = 4.5  # WCAG 1.4.3

# Where a focused element can sit: the page, cards and tables, the header, tags and chips,
# flash messages and the counter box in each state, the API reference's code blocks.
BACKGROUNDS = [
    "--bg",
    "--card",
    "--header-bg",
    "--neutral-bg",
    "--sent-bg",
    "--failed-bg",
    "--pending-bg",
    "--partial-bg",
]
# The fields sit on cards and on the page.
CONTROL_BACKGROUNDS = ["--card", "--bg", "--neutral-bg"]


def rules(css: str) -> dict[str, str]:
    """Each rule's selector text → its declarations (innermost blocks, so @media's too)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found: dict[str, str] = {}
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        key = " ".join(selector.split())
        found[key] = found.get(key, "") + body
    return found


def declarations(body: str) -> dict[str, str]:
    pairs = (part.split(":", 1) for part in body.split(";") if ":" in part)
    return {name.strip(): " ".join(value.split()) for name, value in pairs}


def custom_properties(css: str) -> dict[str, str]:
    root = declarations(rules(css)[":root"])
    return {name: value for name, value in root.items() if name.startswith("--")}


def luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#ffbf47", "#ffffff") == pytest.approx(1.64, abs=0.01)  # the old ring


@pytest.fixture(scope="module")
def app_css() -> str:
    return (CSS / "app.css").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def colours(app_css) -> dict[str, str]:
    return custom_properties(app_css)


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_the_focus_indicator_stands_out_on_every_background(colours, background):
    """The yellow and the black go together: one of them is 3:1 against what is behind."""
    behind = colours[background]
    best = max(contrast(colours["--focus"], behind), contrast(colours["--focus-ink"], behind))
    assert best >= NON_TEXT, f"focus on {background} ({behind}): {best:.2f}:1"


def test_focused_text_is_readable_and_the_bar_shows_on_the_yellow(colours):
    assert contrast(colours["--focus-ink"], colours["--focus"]) >= TEXT


@pytest.mark.parametrize("background", CONTROL_BACKGROUNDS)
def test_control_borders_are_3_to_1(colours, background):
    ratio = contrast(colours["--control-border"], colours[background])
    assert ratio >= NON_TEXT, f"control border on {background}: {ratio:.2f}:1"


def test_the_focus_rules_use_the_pair(app_css):
    """Links, summaries, buttons and fields, each drawn with both colours (GOV.UK's pattern);
    anything else focusable gets the yellow ring with a black one around it."""
    found = rules(app_css)
    link = declarations(
        found["a[href]:focus-visible, a[href][aria-current]:focus-visible, summary:focus-visible"]
    )
    assert link["background-color"] == "var(--focus)" and link["color"] == "var(--focus-ink)"
    assert "var(--focus-ink)" in link["box-shadow"]
    button = declarations(
        found['.button:focus-visible, button:focus-visible, input[type="submit"]:focus-visible']
    )
    assert button["background-color"] == "var(--focus)" and button["color"] == "var(--focus-ink)"
    assert "var(--focus-ink)" in button["box-shadow"]
    field = declarations(found["input:focus, select:focus, textarea:focus"])
    assert field["outline"] == "3px solid var(--focus)"
    assert field["box-shadow"] == "inset 0 0 0 2px var(--focus-ink)"
    anything = declarations(found[":focus-visible"])
    assert anything["outline"] == "3px solid var(--focus)"
    assert "var(--focus-ink)" in anything["box-shadow"]


def test_fields_and_quiet_buttons_have_the_control_border(app_css):
    found = rules(app_css)
    fields = next(
        body for selector, body in found.items() if selector.startswith('input[type="text"]')
    )
    assert declarations(fields)["border"] == "1px solid var(--control-border)"
    for selector in (".button-quiet", ".segmented a", ".pagination a"):
        body = declarations(found[selector])
        assert "var(--control-border)" in (body.get("border-color") or body.get("border", ""))


def test_the_api_reference_has_the_same_focus_colours(colours):
    docs = (CSS / "api_docs.css").read_text(encoding="utf-8")
    own = custom_properties(docs)
    assert (own["--focus"], own["--focus-ink"]) == (colours["--focus"], colours["--focus-ink"])
    code_background = declarations(rules(docs)["code, pre"])["background"]
    best = max(
        contrast(own["--focus"], code_background), contrast(own["--focus-ink"], code_background)
    )
    assert best >= NON_TEXT
    assert "var(--focus-ink)" in declarations(rules(docs)[":focus-visible"])["box-shadow"]
