"""Japanese personal names, normalised for matching.

People write the same name many ways: full- or half-width (ﾔﾏﾀﾞ / ヤマダ), hiragana or katakana
(やまだ / ヤマダ), with or without a space between family and given name (half- or full-width),
small kana typed as large ones on old systems (キョウコ / キヨウコ), long vowels spelt three ways
(ユウコ / ユーコ, オオノ / オーノ), and kanji in old or variant forms (髙橋 / 高橋, 山﨑 / 山崎,
齋藤 / 齊藤 / 斉藤 / 斎藤, 渡邉 / 渡邊 / 渡辺). This module maps each written form to keys that
agree when the names are the same:

- `kanji_key`: width folded, spaces removed, variant kanji folded to their common form.
- `kana_form`: width folded, hiragana → katakana, spaces and middle dots removed. Exact reading.
- `kana_key`: `kana_form` with small kana made large, ヂ/ヅ/ヲ/ヴ folded and long vowels
  collapsed (ユウコ = ユーコ = ユコ, オウ = オー = オオ = オ). A lossy key for comparing readings.
- `phonetic_key`: `kana_key` without voicing marks (ヤマザキ = ヤマサキ): the coarsest key, for
  blocking candidates, never for deciding a match.

Every function is pure and idempotent (`f(f(x)) == f(x)`). The variant-kanji table is ours;
it covers the forms common in names, not every 異体字.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Final

import jaconv

# Old (旧字体) and variant (異体字) forms common in Japanese names → the form in common use.
# Several sources and targets are chosen by usage in names: 齋/齊/斉 all fold to 斎 because
# families registered under one are often recorded under another.
VARIANT_KANJI: Final[dict[str, str]] = {
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "碕": "崎",
    "齋": "斎",
    "齊": "斎",
    "斉": "斎",
    "邉": "辺",
    "邊": "辺",
    "澤": "沢",
    "濱": "浜",
    "濵": "浜",
    "廣": "広",
    "櫻": "桜",
    "國": "国",
    "眞": "真",
    "德": "徳",
    "瀨": "瀬",
    "嶋": "島",
    "嶌": "島",
    "冨": "富",
    "藏": "蔵",
    "條": "条",
    "來": "来",
    "龍": "竜",
    "圓": "円",
    "惠": "恵",
    "澁": "渋",
    "瀧": "滝",
    "淵": "渕",
    "萬": "万",
    "彌": "弥",
    "榮": "栄",
    "壽": "寿",
    "與": "与",
    "實": "実",
    "學": "学",
    "驒": "騨",
    "槇": "槙",
    "籠": "篭",
    "徑": "径",
    "戶": "戸",
    "靜": "静",
    "淸": "清",
    "敎": "教",
    "豐": "豊",
    "禮": "礼",
    "穗": "穂",
    "縣": "県",
    "會": "会",
    "關": "関",
    "檜": "桧",
    "鄕": "郷",
    "曾": "曽",
    "增": "増",
    "黑": "黒",
    "團": "団",
    "將": "将",
    "兒": "児",
    "舘": "館",
    "莊": "荘",
    "亞": "亜",
    "惡": "悪",
    "雙": "双",
    "邨": "村",
    "峯": "峰",
    "嶽": "岳",
    "埜": "野",
    "寬": "寛",
    "凞": "煕",
    "顯": "顕",
    "藝": "芸",
    "樂": "楽",
    "傳": "伝",
    "絲": "糸",
    "爲": "為",
    "譽": "誉",
    "巖": "巌",
    "嚴": "厳",
    "辯": "弁",
    "辨": "弁",
    "瓣": "弁",
    "鐵": "鉄",
    "聰": "聡",
    "總": "総",
    "綠": "緑",
    "纖": "繊",
    "勳": "勲",
    "燈": "灯",
    "螢": "蛍",
    "營": "営",
}
# Compatibility ideographs with a canonical decomposition (e.g. U+FA1B 福) are folded by NFKC.
_KANJI_TABLE: Final = str.maketrans(VARIANT_KANJI)

# Small kana → large (for matching keys only: キョウ and キヨウ are the same name on paper).
SMALL_KANA: Final[dict[str, str]] = {
    "ァ": "ア",
    "ィ": "イ",
    "ゥ": "ウ",
    "ェ": "エ",
    "ォ": "オ",
    "ッ": "ツ",
    "ャ": "ヤ",
    "ュ": "ユ",
    "ョ": "ヨ",
    "ヮ": "ワ",
    "ヵ": "カ",
    "ヶ": "ケ",
}
# Kana that sound alike in modern Japanese.
_HOMOPHONES: Final[dict[str, str]] = {"ヂ": "ジ", "ヅ": "ズ", "ヲ": "オ", "ヱ": "エ", "ヰ": "イ"}
_KANA_TABLE: Final = str.maketrans({**SMALL_KANA, **_HOMOPHONES})
_SEPARATORS: Final = frozenset(" \u3000\t・･=＝-‐")

# The vowel (as a katakana vowel) of each katakana, for long-vowel handling.
_ROWS: Final[dict[str, str]] = {
    "ア": "アカガサザタダナハバパマヤャラワァヮ",
    "イ": "イキギシジチヂニヒビピミリィヰ",
    "ウ": "ウクグスズツヅヌフブプムユュルゥヴ",
    "エ": "エケゲセゼテデネヘベペメレェヱ",
    "オ": "オコゴソゾトドノホボポモヨョロヲォ",
}
VOWEL_OF: Final[dict[str, str]] = {kana: vowel for vowel, row in _ROWS.items() for kana in row}
# After a kana with this vowel, these letters only lengthen it (ユウ, オウ, オオ, エイ, …).
_LENGTHENERS: Final[dict[str, frozenset[str]]] = {
    "ア": frozenset("アー"),
    "イ": frozenset("イー"),
    "ウ": frozenset("ウー"),
    "エ": frozenset("エイー"),
    "オ": frozenset("オウー"),
}
_UNVOICE: Final = str.maketrans(
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴ",
    "カキクケコサシスセソタチツテトハヒフヘホハヒフヘホウ",
)


def fold_width(text: str) -> str:
    """NFKC: full-width ASCII → ASCII, half-width kana → full-width kana."""
    return unicodedata.normalize("NFKC", text)


def strip_spaces(text: str) -> str:
    """Remove every space (half- and full-width) and name separator."""
    return "".join(ch for ch in text if ch not in _SEPARATORS and not ch.isspace())


def fold_variants(text: str) -> str:
    """Width and variant kanji folded, nothing else (for addresses and free text)."""
    return fold_width(text).translate(_KANJI_TABLE)


@lru_cache(maxsize=65536)
def kanji_key(text: str) -> str:
    """A kanji (or any written) name folded for comparison: width, spaces, variant kanji, case."""
    return strip_spaces(fold_width(text)).translate(_KANJI_TABLE).casefold()


@lru_cache(maxsize=65536)
def kana_form(text: str) -> str:
    """A reading as written, in full-width katakana without spaces (ﾔﾏﾀﾞ ﾀﾛｳ → ヤマダタロウ)."""
    return strip_spaces(jaconv.hira2kata(fold_width(text)))


@lru_cache(maxsize=65536)
def kana_key(text: str) -> str:
    """A reading folded for comparison: small kana made large, homophones folded and long
    vowels collapsed (ユウコ = ユーコ, オオノ = オーノ = オウノ)."""
    return collapse_long_vowels(kana_form(text).translate(_KANA_TABLE))


def collapse_long_vowels(kana: str) -> str:
    """Drop the letters that only lengthen the preceding vowel (and every ー)."""
    out: list[str] = []
    vowel = ""
    for ch in kana:
        if vowel and ch in _LENGTHENERS[vowel]:
            continue  # keeps `vowel`: オオオ collapses whole
        if ch == "ー":
            continue  # a mark with no vowel before it (at the start) carries nothing
        out.append(ch)
        vowel = VOWEL_OF.get(ch, "")
    return "".join(out)


@lru_cache(maxsize=65536)
def phonetic_key(text: str) -> str:
    """`kana_key` without voicing (ヤマザキ = ヤマサキ, ハセガワ = ハセカワ): for blocking only."""
    return collapse_long_vowels(kana_key(text).translate(_UNVOICE))


_TO_VARIANT: Final = {standard: variant for variant, standard in reversed(VARIANT_KANJI.items())}


def kanji_spellings(text: str) -> list[str]:
    """Ways a kanji name may be stored: as given, with variants folded (髙橋 → 高橋) and with
    common forms turned into their first-listed variant (高橋 → 髙橋). For exact-prefix
    lookups in an index that keeps kanji as written; at most three, without spaces."""
    written = strip_spaces(fold_width(text))
    folded = written.translate(_KANJI_TABLE)
    varied = "".join(_TO_VARIANT.get(ch, ch) for ch in folded)
    return list(dict.fromkeys(v for v in (written, folded, varied) if v))


def kana_spellings(text: str) -> list[str]:
    """Ways a reading may be stored: as given (katakana), and with long vowels spelt the other
    way (ユーコ ↔ ユウコ, ケーコ ↔ ケイコ). At most three."""
    form = kana_form(text)
    marked, spelt = [], []
    previous = ""
    for ch in form:
        vowel = VOWEL_OF.get(previous, "")
        if ch == "ー" and vowel:
            marked.append(ch)
            spelt.append("イ" if vowel == "エ" else "ウ" if vowel == "オ" else vowel)
        elif (vowel in ("ウ", "オ") and ch == "ウ") or (vowel == "エ" and ch == "イ"):
            marked.append("ー")
            spelt.append(ch)
        else:
            marked.append(ch)
            spelt.append(ch)
        previous = ch
    return list(dict.fromkeys(v for v in (form, "".join(spelt), "".join(marked)) if v))


def is_kana(text: str) -> bool:
    """Whether `text` (after width folding) is written in kana only (spaces allowed)."""
    form = kana_form(text)
    return bool(form) and all("\u30a1" <= ch <= "\u30fc" for ch in form)


def split_name(text: str) -> tuple[str, str]:
    """Split a full name at its first space (half- or full-width) into (family, given).

    Without a space the whole text is the family name and the given name is empty.
    """
    folded = fold_width(text).strip()
    for index, ch in enumerate(folded):
        if ch.isspace():
            return folded[:index], folded[index:].strip()
    return folded, ""


__all__ = [
    "SMALL_KANA",
    "VARIANT_KANJI",
    "VOWEL_OF",
    "collapse_long_vowels",
    "fold_variants",
    "fold_width",
    "is_kana",
    "kana_form",
    "kana_key",
    "kana_spellings",
    "kanji_key",
    "kanji_spellings",
    "phonetic_key",
    "split_name",
    "strip_spaces",
]
