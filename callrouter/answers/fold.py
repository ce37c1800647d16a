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


def fold(text: str) -> str:
    """``text`` folded, one character for one character."""
    return "".join(_fold_char(ch) for ch in unicodedata.normalize("NFC", text))


def terms(query: str) -> list[str]:
    """The folded words of a search box (bounded), in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(query[:MAX_QUERY])):
        seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def highlight(text: str, words: list[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, matched) where a word starts with one of ``words``."""
    text = unicodedata.normalize("NFC", text)
    folded = fold(text)
    marks = [False] * len(text)
    for match in _WORD.finditer(folded):
        for word in words:
            if match.group().startswith(word):
                for i in range(match.start(), match.start() + len(word)):
                    marks[i] = True
    pieces: list[tuple[str, bool]] = []
    for ch, hit in zip(text, marks, strict=True):
        if pieces and pieces[-1][1] == hit:
            pieces[-1] = (pieces[-1][0] + ch, hit)
        else:
            pieces.append((ch, hit))
    return pieces
