"""Note normalisation, SPEC §5.3.1."""

from __future__ import annotations

import pytest

from farm.engine.notes import normalize_note


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # missing / empty / non-string
        (None, ""),
        ("", ""),
        ("   \n\t ", ""),
        (42, "42"),
        (1.5, "1.5"),
        # fenced code blocks disappear entirely, inline code keeps its text
        ("```python\nprint('x')\n```\nafter code", "after code"),
        ("before ```x = 1``` after", "before after"),
        ("Use `ema(20)` here", "Use ema(20) here"),
        # images and links keep their text
        ("see [docs](https://x.y/z) and ![chart](img.png)", "see docs and chart"),
        ("[![badge](b.svg)](https://ci)", "badge"),
        ("<https://example.com> link", "https://example.com link"),
        # headers
        ("# Title\n\nbody", "Title body"),
        ("###### Deep", "Deep"),
        ("## Heading ##", "Heading"),
        ("# C#", "C#"),
        ("#hashtag stays", "#hashtag stays"),
        ("Long entry\n=====\nbody", "Long entry body"),
        # emphasis and strike
        ("Some **bold** and *italic* and ~~strike~~ text.", "Some bold and italic and strike text."),
        ("***both*** __bold__ _it_ ___all___", "both bold it all"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("ema_fast_20 and rsi_14", "ema_fast_20 and rsi_14"),
        # lists
        ("- buy\n- sell", "• buy • sell"),
        ("* one\n* two *em*", "• one • two em"),
        ("+ plus", "• plus"),
        ("1. first\n2. second\n10) tenth", "• first • second • tenth"),
        ("  - nested\n    - deeper", "• nested • deeper"),
        ("-5% drop", "-5% drop"),
        # block quotes and horizontal rules
        ("> quoted\n> > nested", "quoted nested"),
        ("> - quoted item", "• quoted item"),
        (">50 volume", ">50 volume"),
        ("a\n---\nb\n***\nc\n___\nd\n* * *\ne", "a b c d e"),
        # HTML
        ("<b>html</b> <br/> text", "html text"),
        ('<div class="x">\ninside\n</div>', "inside"),
        ("<!-- hidden -->visible", "visible"),
        ("price < 100 and > 50", "price < 100 and > 50"),
        # whitespace and line breaks
        ("  lots   of \t spaces \n\n\n and lines  ", "lots of spaces and lines"),
        ("a\r\nb\rc\u2028d", "a b c d"),
        ("non\u00a0breaking", "non breaking"),
        # a realistic LLM note
        (
            "## Signal: LONG\n\n**Reason**: RSI(14) < 30 and price at `lower_band`.\n\n"
            "1. Entry at *market*\n2. TP +2%\n\n> Risk: [see plan](http://p)\n",
            "Signal: LONG Reason: RSI(14) < 30 and price at lower_band. • Entry at market • TP +2% Risk: see plan",
        ),
    ],
)
def test_normalize_note(note: object, expected: str) -> None:
    assert normalize_note(note) == expected


def test_result_is_a_single_trimmed_line() -> None:
    text = normalize_note("# A\n\n- b\n\n```\ncode\n```\n\n> c\n")
    assert "\n" not in text
    assert text == text.strip()
    assert "  " not in text
