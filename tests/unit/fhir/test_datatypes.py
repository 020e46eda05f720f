"""FHIR date/dateTime/instant periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.datatypes import (
    JAPAN,
    format_http_date,
    format_instant,
    parse_instant,
    parse_period,
)


def _jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JAPAN).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # Without a zone: Japan time (UTC+9), the server's local time that R4 assumes.
        ("2024", datetime(2023, 12, 31, 15, tzinfo=UTC), datetime(2024, 12, 31, 15, tzinfo=UTC)),
        ("2024-02", _jst(2024, 2, 1), _jst(2024, 3, 1)),
        ("2024-12", _jst(2024, 12, 1), _jst(2025, 1, 1)),
        ("2024-02-29", _jst(2024, 2, 29), _jst(2024, 3, 1)),
        ("2024-04-01T09:00", _jst(2024, 4, 1, 9, 0), _jst(2024, 4, 1, 9, 1)),
        (
            "2024-04-01T09:00Z",
            datetime(2024, 4, 1, 9, tzinfo=UTC),
            datetime(2024, 4, 1, 9, 1, tzinfo=UTC),
        ),
        (
            "2024-04-01T09:00+09:00",
            datetime(2024, 4, 1, 0, 0, tzinfo=UTC),
            datetime(2024, 4, 1, 0, 1, tzinfo=UTC),
        ),
        (
            "2024-04-01T09:00:05+09:00",
            datetime(2024, 4, 1, 0, 0, 5, tzinfo=UTC),
            datetime(2024, 4, 1, 0, 0, 6, tzinfo=UTC),
        ),
        (
            "2024-04-01T00:00:00.5Z",
            datetime(2024, 4, 1, 0, 0, 0, 500000, tzinfo=UTC),
            datetime(2024, 4, 1, 0, 0, 0, 600000, tzinfo=UTC),
        ),
    ],
)
def test_period_follows_precision(text: str, start: datetime, end: datetime) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


LAST = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # Within hours of the ends of the calendar, clamped to them (once an OverflowError).
        ("0001", datetime.min.replace(tzinfo=UTC), datetime(1, 12, 31, 15, tzinfo=UTC)),
        (
            "0001-01-01T08:00:00+09:00",
            datetime.min.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
        ),
        ("9999", datetime(9998, 12, 31, 15, tzinfo=UTC), LAST),
        ("9999-12", datetime(9999, 11, 30, 15, tzinfo=UTC), LAST),
        ("9999-12-31", datetime(9999, 12, 30, 15, tzinfo=UTC), LAST),
        ("9999-12-31T23:00:00-05:00", LAST, LAST),
    ],
)
def test_the_ends_of_the_calendar_are_periods_too(
    text: str, start: datetime, end: datetime
) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize(
    "text",
    ["", "24", "2024-13", "2024-02-30", "2024-1-1", "2024-01-01T25:00Z", "yesterday", "0000"],
)
def test_invalid_dates_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_period(text)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_instant_round_trip(value: datetime) -> None:
    aware = value.replace(tzinfo=UTC)
    assert parse_instant(format_instant(aware)) == aware


@given(
    st.dates(min_value=datetime(1900, 1, 1).date(), max_value=datetime(2200, 1, 1).date()),
    st.sampled_from(["year", "month", "day"]),
)
def test_partial_dates_cover_their_whole_period(day: date, precision: str) -> None:
    text = {"year": 4, "month": 7, "day": 10}[precision]
    period = parse_period(day.isoformat()[:text])
    assert period.start < period.end
    point = datetime.combine(day, datetime.min.time(), JAPAN)  # the day begins in Japan
    assert period.start <= point < period.end
    if precision == "day":
        assert period.start == point
        assert period.end == point + timedelta(days=1)
    assert period.end - period.start <= timedelta(days=366)


def test_http_date() -> None:
    assert format_http_date(datetime(2024, 4, 1, 9, 5, 7, tzinfo=UTC)) == (
        "Mon, 01 Apr 2024 09:05:07 GMT"
    )
