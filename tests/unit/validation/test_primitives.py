"""R4 primitive formats (tsunagu.validation.primitives), with generated values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.validation.primitives import check_primitive


@given(st.dates(min_value=dt.date(1, 1, 1)))
def test_every_calendar_date_is_a_valid_date(day: dt.date) -> None:
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    assert check_primitive("date", text) is None
    assert check_primitive("dateTime", text) is None
    assert check_primitive("date", text[:7]) is None
    assert check_primitive("date", text[:4]) is None


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), timezones=st.just(dt.UTC)))
def test_every_utc_timestamp_is_a_valid_instant(moment: dt.datetime) -> None:
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S") + "Z"
    assert check_primitive("instant", text) is None
    assert check_primitive("dateTime", text) is None
    assert check_primitive("date", text) is not None  # a date has no time


@pytest.mark.parametrize(
    "text", ["2023-02-30", "2023-13-01", "2023-1-01", "0000-01-01", "20230101", "2023-02-29"]
)
def test_impossible_or_malformed_dates_are_rejected(text: str) -> None:
    assert check_primitive("date", text) is not None


@pytest.mark.parametrize(
    "text", ["2024-01-01T10:00:00", "2024-01-01T10:00Z", "2024-01-01T25:00:00Z", "2024-01-01 10:00"]
)
def test_date_times_need_seconds_and_zone(text: str) -> None:
    assert check_primitive("dateTime", text) is not None


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_integers_in_range(number: int) -> None:
    assert check_primitive("integer", number) is None
    assert (check_primitive("positiveInt", number) is None) == (number >= 1)
    assert (check_primitive("unsignedInt", number) is None) == (number >= 0)


@pytest.mark.parametrize("value", [2**31, True, 1.5, "1"])
def test_non_integers_are_rejected(value: Any) -> None:
    assert check_primitive("integer", value) is not None


@given(st.from_regex(r"[A-Za-z0-9\-\.]{1,64}", fullmatch=True))
def test_ids(text: str) -> None:
    assert check_primitive("id", text) is None


@pytest.mark.parametrize("text", ["", "a_b", "x" * 65, "a b"])
def test_bad_ids(text: str) -> None:
    assert check_primitive("id", text) is not None


@pytest.mark.parametrize(
    ("type_code", "good", "bad"),
    [
        ("boolean", True, "true"),
        ("decimal", 1.25, "1.25"),
        ("code", "final", " final"),
        ("uri", "http://example.org/x", "has space"),
        ("oid", "urn:oid:1.2.392.100495.20.3.51", "urn:oid:1.02"),
        ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "urn:uuid:C757873D"),
        ("base64Binary", "aGVsbG8=", "abc"),
        ("time", "10:20:30", "10:20"),
        ("string", "日本語", ""),
        ("string", "tab\tok", "bell\x07"),
        ("xhtml", '<div xmlns="http://www.w3.org/1999/xhtml">x</div>', "<p>x</p>"),
    ],
)
def test_formats(type_code: str, good: Any, bad: Any) -> None:
    assert check_primitive(type_code, good) is None
    assert check_primitive(type_code, bad) is not None


@given(st.text(min_size=1).filter(lambda s: all(ord(c) >= 32 or c in "\t\r\n" for c in s)))
def test_strings_without_control_characters_are_valid(text: str) -> None:
    assert check_primitive("string", text) is None
