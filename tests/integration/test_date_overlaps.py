"""A lower and an upper bound on one date parameter (`date=ge2024-06-01&date=lt2024-06-02`)
drive as one key set of the ranges that overlap the range between (`plan._overlaps`): the
rows that span a day or less from a bounded range of the `low` index, the wider ones from
their own partial index (migration 13). The matches are those of the two criteria tested
one by one, on both databases, for instants, days, months, years and periods (open ones
too)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_sorted_walk_pages import _plan
from tsunagu.search import plan
from tsunagu.search.query import parse
from tsunagu.search.sql import Fragment
from tsunagu.storage.sql import searching
from tsunagu.storage.sql.repository import SqlRepository

# effective[x] of each Observation: instants, a day, a month, a year, periods.
EFFECTIVE: dict[str, dict[str, Any]] = {
    "instant-0531-23h": {"effectiveDateTime": "2024-05-31T23:59:59+09:00"},
    "instant-0601-00h": {"effectiveDateTime": "2024-06-01T00:00:00+09:00"},
    "instant-0601-09h": {"effectiveDateTime": "2024-06-01T09:00:00+09:00"},
    "instant-0601-utc": {"effectiveDateTime": "2024-06-01T14:59:59Z"},
    "instant-0602-00h": {"effectiveDateTime": "2024-06-02T00:00:00+09:00"},
    "instant-0615": {"effectiveDateTime": "2024-06-15T12:00:00+09:00"},
    "instant-0701": {"effectiveDateTime": "2024-07-01T08:00:00+09:00"},
    "day-0531": {"effectiveDateTime": "2024-05-31"},
    "day-0601": {"effectiveDateTime": "2024-06-01"},
    "day-0602": {"effectiveDateTime": "2024-06-02"},
    "month-2024-05": {"effectiveDateTime": "2024-05"},
    "month-2024-06": {"effectiveDateTime": "2024-06"},
    "year-2024": {"effectiveDateTime": "2024"},
    "year-2023": {"effectiveDateTime": "2023"},
    "stay-0520-0605": {"effectivePeriod": {"start": "2024-05-20", "end": "2024-06-05"}},
    "stay-0425-0530": {"effectivePeriod": {"start": "2024-04-25", "end": "2024-05-30"}},
    "hours-0601": {
        "effectivePeriod": {
            "start": "2024-06-01T22:00:00+09:00",
            "end": "2024-06-02T02:00:00+09:00",
        }
    },
    "open-from-0101": {"effectivePeriod": {"start": "2024-01-01"}},
    "open-until-0531": {"effectivePeriod": {"end": "2024-05-31"}},
    "no-date": {},
}


@pytest.fixture
def populated(repo: SqlRepository) -> SqlRepository:
    with repo.session() as session:
        for id, effective in EFFECTIVE.items():
            body = {"resourceType": "Observation", "status": "final", "code": {"text": "BT"}}
            session.save("Observation", id, {**body, **effective}, method="PUT", previous=None)
    return repo


RANGES = [
    ("ge2024-06-01", "lt2024-06-02"),
    ("gt2024-05-31", "le2024-06-01"),
    ("ge2024-06-01T09:00:00+09:00", "lt2024-06-01T09:00:01+09:00"),
    ("ge2024-06-02", "lt2024-06-03"),
    ("ge2024-06-01", "le2024-06-30"),
    ("ge2024-05", "lt2024-07"),
    ("ge2024-05-31", "lt2024-05-31T12:00:00+09:00"),
    ("ge2023-12-31", "lt2024-01-02"),
    ("ge2024-06-01", "lt2024-05-01"),  # nothing is in an empty range
    ("gt2024-06-01", "lt2024-06-03"),  # after the day, before the 3rd: the 2nd
]


@pytest.mark.parametrize(("low", "high"), RANGES)
@pytest.mark.parametrize("more", [[], [("status", "final")]], ids=["alone", "with a code"])
def test_overlapping_ranges_are_what_the_two_criteria_find(
    populated: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    low: str,
    high: str,
    more: list[tuple[str, str]],
) -> None:
    query = parse(populated.registry, ["Observation"], [*more, ("date", low), ("date", high)])
    assert plan.select(query).driver is not None
    overlapped = {m.resource.id for m in populated.search(query, None)}
    monkeypatch.setattr(plan, "_overlaps", lambda query, types: ([], set()))
    tested = {m.resource.id for m in populated.search(query, None)}
    assert overlapped == tested


def test_a_day_is_driven_by_its_overlaps_and_finds_wide_ranges(
    populated: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searching, "WALK_COMMON", 10**9)  # no walk: the driver reads alone
    query = parse(
        populated.registry, ["Observation"], [("date", "ge2024-06-01"), ("date", "lt2024-06-02")]
    )
    driver = plan.select(query).driver
    assert driver is not None
    assert driver.tables == "search_date w"
    ids = {m.resource.id for m in populated.search(query, None)}
    assert ids == {
        "instant-0601-00h",
        "instant-0601-09h",
        "instant-0601-utc",
        "day-0601",
        "month-2024-06",
        "year-2024",
        "stay-0520-0605",
        "hours-0601",
        "open-from-0101",
    }


def test_both_arms_read_an_index_of_low(populated: SqlRepository) -> None:
    query = parse(
        populated.registry, ["Observation"], [("date", "ge2024-06-01"), ("date", "lt2024-06-02")]
    )
    driver = plan.select(query).driver
    assert driver is not None
    with populated.dialect.writer() as conn:
        conn.execute("ANALYZE")
    narrow, wide = (_plan(populated, arm) for arm in _arms(driver))
    assert "search_date_lookup0" in narrow
    assert "search_date_wide" in wide


def _arms(driver: plan.KeySet) -> list[Fragment]:
    """Each arm as the statement the driver reads it with."""
    single = [plan.KeySet(driver.tables, driver.alias, driver.types, arm, 0) for arm in driver.arms]
    return [keys.select for keys in single]
