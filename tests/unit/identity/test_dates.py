"""Birthdates as typed: ISO, compact, kanji, Japanese eras and their abbreviations."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.dates import (
    BirthdateError,
    date_variants,
    parse_birthdate,
    relation,
    to_wareki,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1975-03-01", date(1975, 3, 1)),
        ("1975/3/1", date(1975, 3, 1)),
        ("19750301", date(1975, 3, 1)),
        ("１９７５年３月１日", date(1975, 3, 1)),
        ("昭和50年3月1日", date(1975, 3, 1)),
        ("S50.3.1", date(1975, 3, 1)),
        ("s50/03/01", date(1975, 3, 1)),
        ("Ｓ５０．３．１", date(1975, 3, 1)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("H1.1.8", date(1989, 1, 8)),
        ("H元.1.8", date(1989, 1, 8)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("R6-2-29", date(2024, 2, 29)),
        ("大正15年12月24日", date(1926, 12, 24)),
        ("T1.7.30", date(1912, 7, 30)),
        ("明治45年7月29日", date(1912, 7, 29)),
        (" 昭和 64年 1月 7日 ", date(1989, 1, 7)),
    ],
)
def test_accepted_forms(text: str, expected: date) -> None:
    assert parse_birthdate(text) == expected


@pytest.mark.parametrize(
    "text",
    ["昭和64年1月8日", "平成元年1月7日", "R1.4.30", "1975-02-30", "S50.13.1", "yesterday", ""],
)
def test_refused(text: str) -> None:
    with pytest.raises(BirthdateError) as error:
        parse_birthdate(text)
    assert " / " in str(error.value)  # Japanese, then English


@given(st.dates(min_value=date(1868, 1, 25), max_value=date(2100, 12, 31)))
def test_wareki_round_trip(value: date) -> None:
    assert parse_birthdate(to_wareki(value)) == value
    assert parse_birthdate(value.strftime("%Y%m%d")) == value


def test_variants_are_typing_slips() -> None:
    variants = date_variants(date(1975, 3, 12))
    assert date(1975, 12, 3) in variants  # day and month swapped
    assert date(1957, 3, 12) in variants  # 7 and 5 swapped
    assert date(1975, 3, 21) in variants  # 1 and 2 swapped
    assert date(1975, 3, 12) not in variants


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)))
def test_variants_are_symmetric(value: date) -> None:
    for other in date_variants(value):
        assert value in date_variants(other)
        assert relation(value, other) == "transposed"


def test_relation() -> None:
    assert relation(date(1975, 3, 1), date(1975, 3, 1)) == "same"
    assert relation(date(1975, 3, 1), date(1976, 3, 1)) == "year"
    assert relation(date(1975, 3, 1), date(1975, 8, 1)) == "partial"
    assert relation(date(1975, 3, 1), date(1980, 7, 9)) == "different"
