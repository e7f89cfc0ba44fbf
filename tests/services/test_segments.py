"""Segments, encoding and the characters that force UCS-2, held to the GSM 03.38 table.

The reference counter here is written from the standard's table, not from the production
sets: if `services/content.py` drifts from GSM 03.38, these tests say so.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspanel.services.content import (
    GSM7_REPLACEMENTS,
    characters_forcing_ucs2,
    count_segments,
    is_gsm7,
    measure,
    replace_with_gsm7,
)

# GSM 03.38 default alphabet, by code 0x00-0x7F, 16 a row. None: 0x1B, the escape to the
# extension table, not a character of its own.
DEFAULT_ALPHABET = [
    "@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",
    "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", None, "Æ", "æ", "ß", "É",
    " ", "!", '"', "#", "¤", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?",
    "¡", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
    "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "Ä", "Ö", "Ñ", "Ü", "§",
    "¿", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
    "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "ä", "ö", "ñ", "ü", "à",
]  # fmt: skip
# The extension table: each is sent as 0x1B then this code, two septets.
EXTENSION_TABLE = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}  # fmt: skip
ONE_SEPTET = {ch for ch in DEFAULT_ALPHABET if ch is not None}
TWO_SEPTETS = set(EXTENSION_TABLE.values())


def reference(text: str) -> tuple[str, int, int]:
    """(encoding, units, segments), one character at a time: parts are filled in order and a
    two-unit character that does not fit the rest of a part starts the next one."""
    if all(ch in ONE_SEPTET or ch in TWO_SEPTETS for ch in text):
        encoding, single, part = "GSM-7", 160, 153
        widths = [2 if ch in TWO_SEPTETS else 1 for ch in text]
    else:
        encoding, single, part = "UCS-2", 70, 67
        widths = [len(ch.encode("utf-16-be")) // 2 for ch in text]
    units = sum(widths)
    if units == 0:
        return encoding, 0, 0
    if units <= single:
        return encoding, units, 1
    parts, room = 1, part
    for width in widths:
        if width > room:
            parts, room = parts + 1, part
        room -= width
    return encoding, units, parts


def as_measured(text: str) -> tuple[str, int, int]:
    counted = measure(text)
    return counted.encoding, counted.units, counted.segments


LIFT = "𨋢"  # U+282E2, HKSCS: the Cantonese "lift", outside the BMP
GRIN = "😀"

# (text, encoding, units, segments): the page's browser test feeds these same texts.
BOUNDARY_CASES = [
    ("", "GSM-7", 0, 0),
    ("Water off tomorrow 10:00-14:00.", "GSM-7", 31, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),
    ("a" * 159 + "€", "GSM-7", 161, 2),
    # An escape pair on the edge of part one (septets 152-153) opens part two.
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
    ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),
    ("a" * 153 + "[" + "a" * 151, "GSM-7", 306, 2),
    ("中" * 70, "UCS-2", 70, 1),
    ("中" * 71, "UCS-2", 71, 2),
    ("中" * 134, "UCS-2", 134, 2),
    ("中" * 135, "UCS-2", 135, 3),
    (GRIN * 35, "UCS-2", 70, 1),
    (GRIN * 36, "UCS-2", 72, 2),
    # A surrogate pair on the edge of part one (units 66-67) opens part two.
    ("中" * 66 + GRIN + "中" * 66, "UCS-2", 134, 3),
    ("中" * 65 + GRIN + "中" * 67, "UCS-2", 134, 2),
    (LIFT, "UCS-2", 2, 1),
    ("請乘" + LIFT + "到三樓", "UCS-2", 7, 1),
    ("Hello 你好", "UCS-2", 8, 1),
    ("Price €5 – see you", "UCS-2", 18, 1),
    ("Meet at 10:00 [room 2]", "GSM-7", 24, 1),
]


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), BOUNDARY_CASES)
def test_boundary_cases(text, encoding, units, segments):
    assert as_measured(text) == (encoding, units, segments) == reference(text)
    assert count_segments(text) == segments


def test_the_production_alphabet_is_exactly_gsm_03_38():
    every_character = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    gsm = {ch for ch in every_character if is_gsm7(ch)}
    assert gsm == ONE_SEPTET | TWO_SEPTETS
    assert {ch for ch in gsm if measure(ch).units == 2} == TWO_SEPTETS


gsm_characters = st.sampled_from(sorted(ONE_SEPTET | TWO_SEPTETS))
extension_characters = st.sampled_from(sorted(TWO_SEPTETS))
wide_characters = st.sampled_from(["中", "，", "。", LIFT, GRIN, "𠀀", "\u2019", "é", "ç"])
sms_characters = st.one_of(
    gsm_characters, extension_characters, wide_characters, st.characters(codec="utf-8")
)


@st.composite
def texts_near_part_edges(draw) -> str:
    """A two-unit character at or near a part edge, in a text at or near a whole number of
    parts, where a pair split or not changes the count."""
    wide = draw(st.sampled_from([*sorted(TWO_SEPTETS), GRIN, LIFT]))
    filler, part = ("a", 153) if wide in TWO_SEPTETS else ("中", 67)
    edge = draw(st.integers(1, 4))
    before = part * edge - draw(st.integers(0, 3))
    total = part * (edge + draw(st.integers(1, 2))) + draw(st.integers(-1, 1))
    return filler * before + wide + filler * (total - before - 2)


sms_texts = st.one_of(
    st.text(alphabet=gsm_characters, max_size=600),
    st.text(alphabet=st.one_of(gsm_characters, extension_characters), max_size=600),
    st.text(alphabet=sms_characters, max_size=600),
    texts_near_part_edges(),
)


@settings(max_examples=500, deadline=None)
@given(sms_texts)
def test_the_counter_agrees_with_the_reference(text):
    assert as_measured(text) == reference(text)
    assert count_segments(text) == reference(text)[2]


@settings(max_examples=200, deadline=None)
@given(sms_texts)
def test_replacing_never_adds_a_character_outside_gsm_7(text):
    replaced = replace_with_gsm7(text)
    outside = {ch for ch in replaced if ch not in ONE_SEPTET | TWO_SEPTETS}
    assert outside <= {ch for ch in text if ch not in ONE_SEPTET | TWO_SEPTETS}
    assert not outside & set(GSM7_REPLACEMENTS)


def test_the_replacement_table_maps_only_outside_gsm_7_to_gsm_7():
    for character, stand_in in GSM7_REPLACEMENTS.items():
        assert character not in ONE_SEPTET | TWO_SEPTETS, repr(character)
        assert stand_in and all(ch in ONE_SEPTET for ch in stand_in), repr(character)


@pytest.mark.parametrize(
    ("typed", "replaced"),
    [
        ("Don\u2019t forget \u201cWater off\u201d\u2026", 'Don\'t forget "Water off"...'),
        ("10:00\u201314:00 \u2014 thanks", "10:00-14:00 - thanks"),
        ("Dear all\uff0cwater off tomorrow\u3002", "Dear all,water off tomorrow."),
        ("Time\uff1a10am\uff1b room\uff08A\uff09\uff1f\uff01", "Time:10am; room(A)?!"),
        ("EN:\u00a028331234", "EN: 28331234"),
    ],
)
def test_replacing_gives_gsm_7_text(typed, replaced):
    assert not is_gsm7(typed)
    assert replace_with_gsm7(typed) == replaced
    assert is_gsm7(replaced)


def named(text: str) -> list[tuple[str, str, int, tuple[int, ...], str | None]]:
    return [
        (f.character, f.code_point, f.count, f.positions, f.replacement)
        for f in characters_forcing_ucs2(text)
    ]


def test_the_characters_forcing_ucs2_are_named_with_positions_and_stand_ins():
    text = "Don\u2019t miss it\uff0c it\u2019s on Monday \u2013 Mr 陳"
    assert named(text) == [
        ("\u2019", "U+2019", 2, (4, 18), "'"),
        ("\uff0c", "U+FF0C", 1, (14,), ","),
        ("\u2013", "U+2013", 1, (31,), "-"),
        ("陳", "U+9673", 1, (36,), None),
    ]


def test_a_character_outside_the_bmp_is_named_once_at_its_position():
    assert named("Take the " + LIFT + " to 3/F") == [(LIFT, "U+282E2", 1, (10,), None)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "All GSM-7 [and €]",
        "明天上午十時至下午二時停水，請預早儲水。 EN:28331234",  # a Chinese notice is simply UCS-2
        "a\u2019b\u2018c\u201cd\u201de\u2013f\u2014g\u2026h\u00a0i\uff0cj\u3002k\uff1al"
        + "x" * 100,  # eleven different characters: not "otherwise GSM-7"
    ],
)
def test_nothing_is_named_unless_the_text_is_otherwise_gsm_7(text):
    assert named(text) == []
