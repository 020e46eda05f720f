"""date: every date-like value is indexed as a half-open UTC range [low, high).

A value's range comes from its precision (`2024-03` is all of March, in Japan time when no
zone is written: `fhir.datatypes`), a Period's from its start and end (open ends reach the
ends of time), a Timing's from its events. Prefixes compare ranges as the spec describes; `ge`
and `le` take a target that overlaps the start (end) of the search range, as HAPI FHIR does,
where the R4 table's "gt or contained" would leave out a stay from 12-15 to 01-15 for
`ge` 01-01.
See: https://hl7.org/fhir/R4/search.html#date
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tsunagu.fhir.datatypes import Period, parse_period
from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import (
    ParamSpec,
    invalid_value,
    split_prefix,
    unsupported_modifier,
)
from tsunagu.search.sql import Fragment

TABLE = "search_date"
COLUMNS = ("low", "high")
Row = tuple[datetime, datetime]
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
END = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows for the values of one date parameter."""
    out: set[Row] = set()
    for typed in values:
        out.update(_ranges(typed.value))
    return sorted(out)


def _ranges(value: Any) -> Iterator[Row]:
    if isinstance(value, str):
        period = _period(value)
        if period is not None:
            yield (period.start, period.end)
    elif isinstance(value, dict):
        if "start" in value or "end" in value:  # Period
            start = _period(value["start"]) if isinstance(value.get("start"), str) else None
            end = _period(value["end"]) if isinstance(value.get("end"), str) else None
            if start is not None or end is not None:
                yield (start.start if start else BEGINNING, end.end if end else END)
        events = value.get("event")
        if isinstance(events, list):  # Timing
            for event in events:
                if isinstance(event, str):
                    yield from _ranges(event)


@lru_cache(maxsize=16384)  # dates repeat across resources (days, and times to the minute)
def _period(text: str) -> Period | None:
    try:
        return parse_period(text)
    except ValueError:
        return None


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def search_period(spec: ParamSpec, raw: str) -> tuple[str, Period]:
    """The prefix and the period of a date search value; 400 if it is not a date."""
    prefix, text = split_prefix(raw)
    try:
        return prefix, parse_period(text)
    except ValueError:
        raise invalid_value(
            spec, raw, "a date such as 2024, 2024-04-01 or ge2024-04-01T09:00+09:00"
        ) from None


# prefix -> condition on the stored range [low, high) against the search range [start, end).
_CONDITIONS: dict[str, Callable[[str, Period], Fragment]] = {
    # `low < end` follows from the others (ranges are never empty) but bounds the index scan.
    "eq": lambda a, p: Fragment(
        f"{a}.low >= ? AND {a}.low < ? AND {a}.high <= ?", (p.start, p.end, p.end)
    ),
    "ne": lambda a, p: Fragment(f"NOT ({a}.low >= ? AND {a}.high <= ?)", (p.start, p.end)),
    "gt": lambda a, p: Fragment(f"{a}.high > ?", (p.end,)),
    "lt": lambda a, p: Fragment(f"{a}.low < ?", (p.start,)),
    "ge": lambda a, p: Fragment(f"{a}.high > ?", (p.start,)),
    "le": lambda a, p: Fragment(f"{a}.low < ?", (p.end,)),
    "sa": lambda a, p: Fragment(f"{a}.low >= ?", (p.end,)),
    "eb": lambda a, p: Fragment(f"{a}.high <= ?", (p.start,)),
    "ap": lambda a, p: Fragment(f"{a}.low < ? AND {a}.high > ?", _approximately(p)[::-1]),
}


def _approximately(period: Period) -> tuple[datetime, datetime]:
    """The search range widened by 10% of its distance from now (at least a day each way)."""
    now = datetime.now(UTC)
    gap = max(abs(now - period.start), abs(now - period.end)) * 0.1
    margin = max(gap, timedelta(days=1))
    return (max(period.start - margin, BEGINNING), min(period.end + margin, END))


def bounds(spec: ParamSpec, value: str) -> tuple[datetime | None, datetime | None]:
    """What a value says of the ranges it finds, as (`high` is after this, `low` is before
    this): `ge2024-06-01` (start, None), `lt2024-06-02` (None, start); (None, None) for the
    other prefixes."""
    prefix, period = search_period(spec, value)
    return {
        "gt": (period.end, None),
        "ge": (period.start, None),
        "lt": (None, period.start),
        "le": (None, period.end),
    }.get(prefix, (None, None))


# Rows that span more than a day: the partial index `search_date_wide` holds them (migration
# 13); `{wide_range}` is each dialect's test of that, on alias `w`.
WIDE = timedelta(days=1)
_MARGIN = timedelta(seconds=1)  # SQLite tests the span in floating-point days


def overlapping(
    after: datetime, before: datetime, *, low: bool = False
) -> tuple[Fragment, Fragment]:
    """The rows of alias `w` whose range overlaps [after, before) (`high > after`, `low <
    before`), as two arms that each read one bounded range of an index on `low`: rows that
    span a day or less start after `after` less a day; wider ones are few, and have an index
    of their own. With `low`, the arms test `low` only (what the indexes hold): a few rows
    more, counted without reading the table."""
    end = "" if low else " AND w.high > ?"
    narrow = Fragment(
        f"w.low > ? AND w.low < ?{end}",
        (max(after - WIDE - _MARGIN, BEGINNING), before) + (() if low else (after,)),
    )
    wide = Fragment(f"{{wide_range}} AND w.low < ?{end}", (before,) + (() if low else (after,)))
    return narrow, wide


def within_a_day(spec: ParamSpec, values: Sequence[str]) -> bool:
    """Whether every value asks for `eq` a day or less (`birthdate=1975-03-01`): a narrow
    range of the index, selective enough to drive a query (a year or `ge` is not)."""
    for value in values:
        prefix, period = search_period(spec, value)
        if prefix != "eq" or period.end - period.start > timedelta(days=1):
            return False
    return True


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    if modifier is not None:
        raise unsupported_modifier(spec, modifier)
    prefix, period = search_period(spec, value)
    return _CONDITIONS[prefix](alias, period)
