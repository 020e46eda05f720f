"""FHIR primitive values that the server interprets itself: date, dateTime, instant.

A FHIR date may be partial (`2024`, `2024-03`, `2024-03-05`, or a dateTime with or without
seconds and zone); it stands for the whole period its precision implies. `parse_period` gives
that period as a half-open UTC interval [start, end).

A value without a zone (a date, a year, a month, or a search value written without one) is in
Japan time: R4 says that the server's local time zone is assumed where none is given
(search.html#date), and this platform's is Japan's. So `2024-03-01` is the day in Japan,
[2024-02-29T15:00Z, 2024-03-01T15:00Z), and `Observation?date=2024-03-01` finds what was
observed at 08:00 JST that day, as a clinic in Japan expects.
See: https://hl7.org/fhir/R4/datatypes.html#dateTime and https://hl7.org/fhir/R4/search.html#date
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>0[1-9]|1[0-2])"
    r"(?:-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
    r"(?::(?P<second>[0-5][0-9]|60)(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<zone>Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)?)?)?)?"
)

# Japan Standard Time: UTC+9 all year since 1952 (summer time ran from 1948 to 1951, which
# this ignores). A fixed offset needs no time-zone database on the host.
JAPAN: Final = timezone(timedelta(hours=9), "JST")
_FIRST: Final = datetime.min.replace(tzinfo=UTC)
_LAST: Final = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval of time [start, end) in UTC."""

    start: datetime
    end: datetime


def parse_period(text: str) -> Period:
    """The period a FHIR date/dateTime/instant stands for; ValueError if it is not one."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not a FHIR date or dateTime: {text!r}")
    g = match.groupdict()
    year = int(g["year"])
    if year < 1:
        raise ValueError(f"not a valid FHIR year: {text!r}")
    month = int(g["month"] or 1)
    day = int(g["day"] or 1)
    hour = int(g["hour"] or 0)
    minute = int(g["minute"] or 0)
    second = min(int(g["second"] or 0), 59)  # a leap second is treated as :59
    fraction = g["fraction"] or ""
    micro = int((fraction + "000000")[:6]) if fraction else 0
    zone = _zone(g["zone"])
    try:
        start = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError as error:  # e.g. 2023-02-30
        raise ValueError(f"not a valid calendar date: {text!r}") from error
    try:
        end = _end(start, g, fraction)
    except (OverflowError, ValueError):  # after 9999-12-31: the end of the calendar
        end = _LAST
    return Period(_utc(start), _utc(end))


def _end(start: datetime, g: dict[str, str | None], fraction: str) -> datetime:
    """Where the period of a value of this precision ends (the next year, month, ...)."""
    if g["month"] is None:
        return start.replace(year=start.year + 1)
    if g["day"] is None:
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    if g["hour"] is None:
        return start + timedelta(days=1)
    if g["second"] is None:
        return start + timedelta(minutes=1)
    if not fraction:
        return start + timedelta(seconds=1)
    # Precision of the fraction given, down to the microseconds we store.
    return start + timedelta(microseconds=10 ** max(0, 6 - len(fraction)))


def _utc(value: datetime) -> datetime:
    """In UTC; a time within hours of the ends of the calendar (0001-01-01T00:00+09:00,
    9999-12-31T23:00-05:00) is clamped to that end."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return _FIRST if value.year == 1 else _LAST


def parse_instant(text: str) -> datetime:
    """An exact point in time (the start of the value's period), in UTC."""
    return parse_period(text).start


def _zone(text: str | None) -> timezone:
    if text is None:
        return JAPAN
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_instant(value: datetime) -> str:
    """An instant as FHIR writes it, in UTC with microseconds."""
    return value.astimezone(UTC).isoformat()


def format_http_date(value: datetime) -> str:
    """An RFC 9110 HTTP date, for Last-Modified."""
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
