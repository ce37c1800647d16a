"""Vietnamese folding for search: lower case, diacritics removed, ``đ`` → ``d``.

The folding maps every character to exactly one character, so a match found in the
folded text is at the same offsets in the original (used to highlight it).
SQLite's FTS5 ``remove_diacritics`` and PostgreSQL's ``unaccent`` do not fold ``đ``
(it is a letter of its own, not ``d`` with a mark): callrouter folds the indexed text
and the query itself, the same way on both databases.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

MAX_QUERY = 200  # characters of a search box read
MAX_TERMS = 8

_WORD: Final = re.compile(r"[^\W_]+")
_SPECIAL: Final = {"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"}


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    low = base.lower()
    return low[0] if len(low) >= 1 else ch


# Every character up to U+1FFF (Latin with Vietnamese's letters, Greek, Cyrillic...) folded
# in one ``str.translate``; anything above goes through :func:`_fold_char`.
_TABLE: Final = {i: _fold_char(chr(i)) for i in range(0x2000) if _fold_char(chr(i)) != chr(i)}
_TABLE_END: Final = "\u2000"


def fold(text: str) -> str:
    """``text`` folded, one character for one character."""
    text = unicodedata.normalize("NFC", text)
    folded = text.translate(_TABLE)
    if max(text, default="") < _TABLE_END:
        return folded
    return "".join(_fold_char(ch) for ch in folded)


def terms(query: str) -> list[str]:
    """The folded words of a search box (bounded), in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(query[:MAX_QUERY])):
        seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def highlight(text: str, words: list[str], *, around: int | None = None) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, matched) where a word starts with one of ``words``.

    With ``around``, only the part of a long text about the first match (that many
    characters before and after it, "…" marking the cuts), as a search result shows a body.
    """
    text = unicodedata.normalize("NFC", text)
    folded = fold(text)
    if not words:
        return [(text, False)] if text else []
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + ")")
    spans = [m.span() for m in pattern.finditer(folded)]
    start, end = 0, len(text)
    if around is not None and len(text) > 2 * around:
        first = spans[0][0] if spans else 0
        start, end = max(0, first - around), min(len(text), first + around)
        spans = [(a, b) for a, b in spans if a >= start and b <= end]
    pieces: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    at = start
    for a, b in spans:
        if a < at:
            continue
        if a > at:
            pieces.append((text[at:a], False))
        pieces.append((text[a:b], True))
        at = b
    if at < end:
        pieces.append((text[at:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces
