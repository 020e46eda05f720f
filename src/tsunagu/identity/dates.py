"""Birthdates as people type them, and the near misses a matcher should still consider.

Accepted input (full-width digits and letters too):
- Western calendar: `1975-03-01`, `1975/3/1`, `1975.3.1`, `19750301`, `1975年3月1日`.
- Japanese era (和暦): `昭和50年3月1日`, `平成元年1月8日`, and the one-letter abbreviations
  `S50.3.1`, `H1/1/8`, `R1-5-1`, `s50.03.01` (M 明治, T 大正, S 昭和, H 平成, R 令和;
  `元` = year 1). A date outside its era (昭和64年1月8日, 平成元年1月7日) is refused.

`date_variants` lists the dates a clerk may have meant instead (two adjacent digits swapped,
day and month swapped), for finding candidates whose birthdate was mistyped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Final


@dataclass(frozen=True)
class Era:
    name: str
    letter: str
    start: date  # first day of the era (year 1)
    end: date | None  # last day, None for the current era


ERAS: Final[tuple[Era, ...]] = (
    Era("明治", "M", date(1868, 1, 25), date(1912, 7, 29)),
    Era("大正", "T", date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "S", date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "H", date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "R", date(2019, 5, 1), None),
)
_BY_KEY: Final = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS}

_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_KANJI = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")
_ERA_KANJI = re.compile(r"(明治|大正|昭和|平成|令和)(\d{1,2}|元)年(\d{1,2})月(\d{1,2})日?")
_ERA_SHORT = re.compile(r"([MTSHR])(\d{1,2}|元)[-/.](\d{1,2})[-/.](\d{1,2})")


class BirthdateError(ValueError):
    """Input that is not a birthdate we can read. The message is Japanese, then English."""


def parse_birthdate(text: str) -> date:
    """Read a birthdate in any accepted form (see the module docstring)."""
    value = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    for pattern in (_ISO, _COMPACT, _KANJI):
        match = pattern.fullmatch(value)
        if match:
            return _make(int(match[1]), int(match[2]), int(match[3]))
    match = _ERA_KANJI.fullmatch(value) or _ERA_SHORT.fullmatch(value)
    if match:
        era = _BY_KEY[match[1]]
        year = 1 if match[2] == "元" else int(match[2])
        result = _make(era.start.year + year - 1, int(match[3]), int(match[4]))
        if result < era.start or (era.end is not None and result > era.end):
            raise BirthdateError(
                f"{era.name}{year}年{int(match[3])}月{int(match[4])}日 は{era.name}の期間外です / "
                f"the date is outside the {era.letter} ({era.name}) era"
            )
        return result
    raise BirthdateError(
        "生年月日を読み取れません (例: 1975-03-01, 19750301, 昭和50年3月1日, S50.3.1) / "
        "cannot read the birthdate (e.g. 1975-03-01, 19750301, 昭和50年3月1日, S50.3.1)"
    )


def _make(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise BirthdateError(
            "存在しない日付です / the date does not exist (check month and day)"
        ) from None


def to_wareki(value: date) -> str:
    """The date in the Japanese era calendar, e.g. `昭和50年3月1日` (`元年` for year 1)."""
    for era in reversed(ERAS):
        if value >= era.start:
            year = value.year - era.start.year + 1
            label = "元" if year == 1 else str(year)
            return f"{era.name}{label}年{value.month}月{value.day}日"
    raise BirthdateError("明治より前の日付です / the date is before the Meiji era")


def date_variants(value: date) -> list[date]:
    """Valid dates one typing slip away: two adjacent digits of YYYYMMDD swapped, or day and
    month swapped. Excludes `value` itself; in a stable order."""
    digits = value.strftime("%Y%m%d")
    found: dict[date, None] = {}
    for i in range(len(digits) - 1):
        if digits[i] == digits[i + 1]:
            continue
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        candidate = _maybe(swapped)
        if candidate is not None:
            found[candidate] = None
    if value.day <= 12:
        candidate = _maybe(f"{value.year:04d}{value.day:02d}{value.month:02d}")
        if candidate is not None:
            found[candidate] = None
    found.pop(value, None)
    return list(found)


@lru_cache(maxsize=65536)
def _variant_set(value: date) -> frozenset[date]:
    """`date_variants` as a set, remembered: a query's birthdate meets every candidate's."""
    return frozenset(date_variants(value))


def _maybe(digits: str) -> date | None:
    try:
        result = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return result if result.year >= 1868 else None


def relation(a: date, b: date) -> str:
    """How two birthdates relate: `same`, `transposed` (a slip in `date_variants`), `year`
    (same month and day, year off by one digit), `partial` (two of year, month and day
    agree), or `different`."""
    if a == b:
        return "same"
    if b in _variant_set(a):
        return "transposed"
    if (a.month, a.day) == (b.month, b.day):
        ya, yb = f"{a.year:04d}", f"{b.year:04d}"
        if sum(x != y for x, y in zip(ya, yb, strict=True)) == 1:
            return "year"
    agree = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    return "partial" if agree == 2 else "different"


__all__ = [
    "ERAS",
    "BirthdateError",
    "Era",
    "date_variants",
    "parse_birthdate",
    "relation",
    "to_wareki",
]
