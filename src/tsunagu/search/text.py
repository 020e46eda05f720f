"""Text normalisation for `string` search, as Japanese users expect it.

The spec asks for case- and accent-insensitive prefix matching. For Japanese that also means:
full-width and half-width forms are the same (NFKC: ﾔﾏﾀﾞ = ヤマダ, ＡＢＣ = abc), hiragana and
katakana are the same (やまだ = ヤマダ), and voiced marks are NOT accents (ダ ≠ タ), so only
combining marks outside the kana range are dropped. Kanji are left exactly as written: variant
forms (髙/高) are a matching concern of patient identification, not of `string` search.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import jaconv

_KANA_VOICING = {"\u3099", "\u309a"}  # combining dakuten / handakuten


@lru_cache(maxsize=65536)  # displays and names repeat across resources
def normalize(text: str) -> str:
    """The form stored in the string index and compared by `string` searches."""
    if text.isascii():
        return text.lower()  # ASCII is NFKC-stable and has no marks to strip
    value = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", value)
    stripped = "".join(
        ch
        for ch in decomposed
        if ch in _KANA_VOICING or not unicodedata.category(ch).startswith("M")
    )
    return jaconv.hira2kata(unicodedata.normalize("NFC", stripped))


def like_escape(text: str) -> str:
    """Escape LIKE wildcards (with `\\` as the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
