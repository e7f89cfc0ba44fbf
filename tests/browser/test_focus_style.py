"""In a real browser: what a keyboard user sees on the focused element is GOV.UK's yellow
and black wherever it sits, whatever the component's own colours (the header's current page
link and its quiet button, a table's link, a field, a checkbox); tests/web/test_contrast.py
holds the colours' ratios."""

from __future__ import annotations

from tests.browser.conftest import log_in, screenshot

YELLOW = "rgb(255, 221, 0)"
INK = "rgb(11, 12, 12)"


def focus_style(page, selector: str) -> dict[str, str]:
    page.locator(selector).first.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # :focus-visible comes with the keyboard
    return page.evaluate(
        """() => {
          const s = getComputedStyle(document.activeElement);
          return { background: s.backgroundColor, color: s.color, shadow: s.boxShadow,
                   outline: [s.outlineColor, s.outlineStyle, s.outlineWidth].join(' ') };
        }"""
    )


def test_links_and_buttons_turn_yellow_with_a_black_bar(page):
    log_in(page)
    page.goto("/history")
    for selector in (
        '.nav a[aria-current="page"]',  # white on the dark header until focused
        ".logout .button-quiet",  # transparent on the header
        ".brand",
        '.language-switch a[aria-current="true"]',
        ".filters .button",
        ".skip-link",
    ):
        style = focus_style(page, selector)
        assert style["background"] == YELLOW, (selector, style)
        assert style["color"] == INK, (selector, style)
        assert INK in style["shadow"], (selector, style)
    screenshot(page, "focus-header-button")


def test_fields_get_the_yellow_ring_and_a_black_edge_inside(page):
    log_in(page)
    page.goto("/compose")
    for selector in ("#recipients", "#content", "#enquiry_number", "#scheduled_at"):
        style = focus_style(page, selector)
        assert style["outline"] == f"{YELLOW} solid 3px", (selector, style)
        assert style["shadow"] == f"{INK} 0px 0px 0px 2px inset", (selector, style)
    style = focus_style(page, "#commercial")
    assert style["outline"] == f"{INK} solid 3px" and YELLOW in style["shadow"], style
    screenshot(page, "focus-field")
