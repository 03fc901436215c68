"""Signal note normalisation (SPEC §5.3.1): markdown in, one line of plain text out.

Notes end up in table cells of the markdown reports and in event payloads, where markup and
line breaks would break the layout; so the note is flattened once, when the signal is built.

The steps follow the reference's `toPlainString`, in an order that keeps one step from
corrupting the input of the next: the reference unwraps `*emphasis*` before it looks at list
markers and horizontal rules, which turns `***` into a stray `*` and `* a *b*` into garbage.
Here block-level markup (rules, quotes, headers, list markers) goes first, inline markup after.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["normalize_note"]

_M = re.MULTILINE

# JavaScript treats \r, \u2028 and \u2029 as line ends for `^`, `$` and `.`; Python only \n.
_LINE_ENDS = re.compile(r"\r\n?|[\u2028\u2029]")

_FENCED_CODE = re.compile(r"```[\s\S]*?```")
_HTML_COMMENT = re.compile(r"<!--[\s\S]*?-->")
# `<https://…>` is a link, not a tag: keep the address.
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]*)>", re.IGNORECASE)
# Only tag-shaped text (`<b>`, `</div>`, `<br/>`), so that "price < 100 and > 50" survives.
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")

_HORIZONTAL_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", _M)
_SETEXT_UNDERLINE = re.compile(r"^[ \t]*={3,}[ \t]*$", _M)
# A ">" glued to text (">50") is a comparison in a trading note, not a quote.
_BLOCK_QUOTE = re.compile(r"^[ \t]*(?:>(?:[ \t]+|$))+", _M)
# An optional closing run of #'s must be preceded by a space, so "# C#" keeps its '#'.
_HEADER = re.compile(r"^[ \t]*#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", _M)
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+", _M)
_NUMBERED = re.compile(r"^[ \t]*\d+[.)][ \t]+", _M)

_INLINE_CODE = re.compile(r"`([^`]+)`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")

# Emphasis never spans lines (`.` stops at \n) and, as in CommonMark, a delimiter run does not
# open before or close after whitespace: "2 * 3 * 4" is arithmetic, not emphasis.
_STAR_3 = re.compile(r"\*\*\*(?!\s)(.+?)(?<!\s)\*\*\*")
_STAR_2 = re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*")
_STAR_1 = re.compile(r"\*(?!\s)(.+?)(?<!\s)\*")
# Underscores inside a word are literal, so snake_case names (rsi_14_period) stay intact.
_UNDER_3 = re.compile(r"(?<!\w)___([^_\n]+)___(?!\w)")
_UNDER_2 = re.compile(r"(?<!\w)__([^_\n]+)__(?!\w)")
_UNDER_1 = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")
_STRIKE = re.compile(r"~~(.+?)~~")

_WHITESPACE = re.compile(r"\s+")


def _block_markup(text: str) -> str:
    text = _HORIZONTAL_RULE.sub("", text)
    text = _SETEXT_UNDERLINE.sub("", text)
    text = _BLOCK_QUOTE.sub("", text)
    text = _HEADER.sub(lambda m: m.group(1) or "", text)
    text = _BULLET.sub("• ", text)
    return _NUMBERED.sub("• ", text)


def _inline_markup(text: str) -> str:
    text = _INLINE_CODE.sub(r"\1", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    for pattern in (_STAR_3, _STAR_2, _STAR_1, _UNDER_3, _UNDER_2, _UNDER_1, _STRIKE):
        text = pattern.sub(r"\1", text)
    return text


def normalize_note(note: Any) -> str:
    """Flatten a (markdown) note to a single trimmed line of plain text; missing/empty → "".

    Non-string notes are converted with `str()` first, since users sometimes pass numbers or
    objects and a report cell still needs text.
    """
    if note is None:
        return ""
    text = note if isinstance(note, str) else str(note)
    if not text:
        return ""
    text = _LINE_ENDS.sub("\n", text)
    text = _FENCED_CODE.sub("", text)
    text = _HTML_COMMENT.sub("", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _block_markup(text)
    text = _inline_markup(text)
    return _WHITESPACE.sub(" ", text).strip()
