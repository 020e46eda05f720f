"""Date prefixes against an oracle: every prefix, values of every precision and zone.

The stored values and the search values are built from their parts (`Moment`), so the oracle
computes each one's range from those parts, without the server's parser, and compares ranges
as the R4 prefix table says, on both backends:

- eq: the search range contains the target's; ne: it does not;
- gt / lt: some of the target lies after / before the search range;
- ge / le: some of the target lies at or after its start / before its end. (The R4 table's
  "gt, or contained" would leave out a target that begins before the search range and ends
  inside it, such as a stay from 12-15 to 01-15 for `ge` 01-01; HAPI FHIR and Blaze include
  it, and so does Tsunagu: a stay that goes on after New Year is on or after it.)
- sa / eb: the target starts after / ends before the search range.

A value without a zone is in Japan time (UTC+9), the server's local time (`fhir.datatypes`):
`date=2024-03-01` finds what happened at 08:00 JST that day, and not at 20:00 JST the day
before, which is 2024-03-01 in UTC.
See: https://hl7.org/fhir/R4/search.html#prefix and #date
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import loaded_client

ZONES = {
    None: timezone(timedelta(hours=9)),  # no zone written: Japan time
    "Z": UTC,
    "+09:00": timezone(timedelta(hours=9)),
    "-05:00": timezone(timedelta(hours=-5)),
}
PRECISIONS = ("year", "month", "day", "minute", "second")
PREFIXES = ("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


@dataclass(frozen=True)
class Moment:
    """A date or dateTime written to some precision, with or without a zone."""

    wall: datetime  # naive: the parts as written
    precision: str
    zone: str | None

    def text(self) -> str:
        w = self.wall
        parts = {
            "year": f"{w.year:04d}",
            "month": f"{w.year:04d}-{w.month:02d}",
            "day": w.date().isoformat(),
            "minute": f"{w.date().isoformat()}T{w.hour:02d}:{w.minute:02d}",
            "second": f"{w.date().isoformat()}T{w:%H:%M:%S}",
        }
        return parts[self.precision] + (self.zone or "")

    def range(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: the whole year, month, day, minute or second written."""
        w = self.wall
        start = {
            "year": datetime(w.year, 1, 1),
            "month": datetime(w.year, w.month, 1),
            "day": datetime(w.year, w.month, w.day),
            "minute": w.replace(second=0),
            "second": w,
        }[self.precision]
        if self.precision == "year":
            end = start.replace(year=start.year + 1)
        elif self.precision == "month":
            end = (start + timedelta(days=32)).replace(day=1)
        else:
            step = {"day": timedelta(days=1), "minute": timedelta(minutes=1)}
            end = start + step.get(self.precision, timedelta(seconds=1))
        zone = ZONES[self.zone]
        return (
            start.replace(tzinfo=zone).astimezone(UTC),
            end.replace(tzinfo=zone).astimezone(UTC),
        )


# A target's range; None for an open end of a Period.
Range = tuple[datetime | None, datetime | None]


def matches(prefix: str, target: Range, search: tuple[datetime, datetime]) -> bool:
    """The oracle: does a target range match `prefix` + a search range?"""
    low, high = target
    start, end = search
    after = high is None or high > end  # some of the target after the search range
    before = low is None or low < start  # ... before it
    contained = not before and high is not None and high <= end
    oracle = {
        "eq": contained,
        "ne": not contained,
        "gt": after,
        "lt": before,
        "ge": high is None or high > start,
        "le": low is None or low < end,
        "sa": low is not None and low >= end,
        "eb": high is not None and high <= start,
    }
    return oracle[prefix or "eq"]


# --- the data: around the turns of days, months and years, in Japan and in UTC ----------------

AROUND = [
    datetime(2023, 12, 31, 14, 30, 0),
    datetime(2023, 12, 31, 23, 59, 59),
    datetime(2024, 1, 1, 0, 0, 0),
    datetime(2024, 1, 1, 8, 59, 59),
    datetime(2024, 1, 1, 9, 0, 0),
    datetime(2024, 2, 29, 15, 0, 0),
    datetime(2024, 3, 1, 0, 0, 0),
    datetime(2024, 3, 1, 8, 0, 0),
    datetime(2024, 3, 1, 20, 0, 0),
    datetime(2024, 3, 31, 23, 0, 0),
]


def _moments(rng: random.Random) -> Iterator[Moment]:
    """Stored values: dates (no zone, as FHIR writes them) and dateTimes (always zoned)."""
    for wall in AROUND:
        for precision in ("year", "month", "day"):
            yield Moment(wall, precision, None)
        for zone in ("Z", "+09:00", "-05:00"):
            yield Moment(wall, "second", zone)
    for _ in range(40):
        wall = datetime(2023, 12, 1) + timedelta(seconds=rng.randrange(150 * 86400))
        precision = rng.choice(("day", "second", "second"))
        yield Moment(wall, precision, None if precision == "day" else rng.choice(["Z", "+09:00"]))


# Times around the day 2024-03-01 in Japan, for the plain examples.
NAMED = {
    "jst-2000-before": "2024-02-29T20:00:00+09:00",  # 11:00 UTC on 02-29
    "utc-2000-before": "2024-02-29T20:00:00Z",  # 05:00 JST on 03-01
    "jst-0800": "2024-03-01T08:00:00+09:00",  # 23:00 UTC on 02-29
    "jst-2000": "2024-03-01T20:00:00+09:00",  # 11:00 UTC on 03-01
    "utc-1600": "2024-03-01T16:00:00Z",  # 01:00 JST on 03-02
}


def _dataset() -> list[tuple[str, dict[str, object], Range]]:
    """(id, effective[x], oracle range) of each Observation."""
    rng = random.Random(20261123)
    out: list[tuple[str, dict[str, object], Range]] = []
    for id, text in NAMED.items():
        day, _, time = text.partition("T")
        zone = "Z" if time.endswith("Z") else time[8:]
        wall = datetime.fromisoformat(f"{day}T{time[:8]}")
        out.append((id, {"effectiveDateTime": text}, Moment(wall, "second", zone).range()))
    moments = list(_moments(rng))
    for n, moment in enumerate(moments):
        out.append((f"t{n:03d}", {"effectiveDateTime": moment.text()}, moment.range()))
    for n in range(30):  # Periods, some open at one end
        first, second = sorted(rng.sample(moments, 2), key=lambda m: m.range())
        period: dict[str, str] = {}
        low: datetime | None = None
        high: datetime | None = None
        if n % 5 != 0:
            period["start"], low = first.text(), first.range()[0]
        if n % 5 != 1:
            period["end"], high = second.text(), second.range()[1]
        if low is not None and high is not None and high <= low:
            continue  # an end before the start is invalid
        out.append((f"p{n:03d}", {"effectivePeriod": period}, (low, high)))
    return out


DATASET = _dataset()


client = loaded_client(
    {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": "date oracle"},
        **effective,
    }
    for id, effective, _ in DATASET
)


def _found(client: TestClient, value: str) -> set[str]:
    response = client.get("/fhir/Observation", params={"date": value, "_count": "1000"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle.get("total", len(DATASET)) <= len(DATASET)
    assert "next" not in {link["relation"] for link in bundle.get("link", [])}
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def _search(client: TestClient, prefix: str, moment: Moment) -> None:
    expected = {id for id, _, target in DATASET if matches(prefix, target, moment.range())}
    assert _found(client, prefix + moment.text()) == expected


@st.composite
def search_moments(draw: st.DrawFn) -> Moment:
    precision = draw(st.sampled_from(PRECISIONS))
    if draw(st.booleans()):
        base = draw(st.sampled_from(AROUND))
    else:
        seconds = draw(st.integers(0, 150 * 86400))
        base = datetime(2023, 12, 1) + timedelta(seconds=seconds)
    # Only values with a time carry a zone (a zoned date is not FHIR).
    timed = precision in ("minute", "second")
    zone = draw(st.sampled_from([None, "Z", "+09:00", "-05:00"])) if timed else None
    return Moment(base, precision, zone)


@settings(max_examples=120)
@given(prefix=st.sampled_from(PREFIXES), moment=search_moments())
def test_every_prefix_matches_the_oracle(client: TestClient, prefix: str, moment: Moment) -> None:
    _search(client, prefix, moment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # A day without a zone is the day in Japan: [2024-02-29T15:00Z, 2024-03-01T15:00Z).
        ("2024-03-01", {"jst-0800", "jst-2000", "utc-2000-before"}),
        ("lt2024-03-01", {"jst-2000-before"}),
        ("ge2024-03-02", {"utc-1600"}),
        ("2024-03", {"jst-0800", "jst-2000", "utc-2000-before", "utc-1600"}),
        ("2024-03-01T08:00", {"jst-0800"}),
        ("2024-03-01T08:00:00Z", set()),
        ("2024-02-29T23:00:00Z", {"jst-0800"}),
    ],
)
def test_a_day_without_a_zone_is_the_day_in_japan(
    client: TestClient, value: str, expected: set[str]
) -> None:
    assert _found(client, value) & set(NAMED) == expected
