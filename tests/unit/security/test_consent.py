"""A sharing Consent as grants: only active permits, per facility and category, in period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.security.consent_examples import sharing_consent
from tsunagu.fhir.datatypes import JAPAN
from tsunagu.security.categories import Category
from tsunagu.security.consent import grants_of, widens

FACILITY = "2710000001"


def test_an_active_consent_grants_each_listed_category_to_the_facility() -> None:
    grants = grants_of(sharing_consent("p1", FACILITY, ["diagnoses", "labs"]))
    assert {(g.patient, g.facility, g.category) for g in grants} == {
        ("p1", FACILITY, Category.DIAGNOSES),
        ("p1", FACILITY, Category.LABS),
    }
    assert grants[0].start == datetime(2020, 4, 1, tzinfo=JAPAN)
    assert grants[0].end is None


@pytest.mark.parametrize(
    "status", ["proposed", "rejected", "inactive", "draft", "entered-in-error"]
)
def test_only_an_active_consent_grants(status: str) -> None:
    assert grants_of(sharing_consent("p1", FACILITY, ["labs"], status=status)) == []


def test_a_date_end_covers_that_whole_day_in_japan() -> None:
    (grant,) = grants_of(sharing_consent("p1", FACILITY, ["labs"], end="2025-03-31"))
    assert grant.end == datetime(2025, 3, 31, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["provision"].update(type="deny"),
        lambda c: c["provision"].pop("period"),
        lambda c: c["provision"]["period"].update(end="2019-01-01"),  # ends before it starts
        lambda c: c["provision"]["period"].update(start="not a date"),
        lambda c: c["provision"]["actor"][0]["role"]["coding"][0].update(code="PRCP"),
        lambda c: c["provision"]["actor"][0]["reference"]["identifier"].update(system="urn:x"),
        lambda c: c.update(patient={"reference": "Group/1"}),
        lambda c: c["provision"].update(code=[]),
        lambda c: c["provision"]["code"][0]["coding"][0].update(code="everything"),
    ],
)
def test_malformed_or_non_permitting_consents_grant_nothing(change: object) -> None:
    consent = sharing_consent("p1", FACILITY, ["labs"], end="2030-01-01")
    change(consent)  # type: ignore[operator]
    assert grants_of(consent) == []


@given(st.sets(st.sampled_from([c.value for c in Category])))
def test_exactly_the_listed_categories_are_granted(categories: set[str]) -> None:
    grants = grants_of(sharing_consent("p1", FACILITY, sorted(categories)))
    assert {g.category.value for g in grants} == categories


@given(
    st.recursive(
        st.none() | st.text(max_size=5) | st.integers(),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=20,
    )
)
def test_any_json_is_read_without_failing(value: object) -> None:
    consent = {"resourceType": "Consent", "status": "active", "patient": value, "provision": value}
    assert isinstance(grants_of(consent), list)


def test_widening_is_any_grant_the_previous_version_lacked() -> None:
    base = sharing_consent("p1", FACILITY, ["diagnoses", "labs"], end="2030-01-01")
    assert widens(base, None)
    assert not widens(base, base)
    assert not widens(sharing_consent("p1", FACILITY, ["labs"], end="2030-01-01"), base)
    assert not widens(sharing_consent("p1", FACILITY, ["labs"], end="2029-01-01"), base)
    assert not widens(sharing_consent("p1", FACILITY, ["labs"], status="inactive"), base)
    assert widens(sharing_consent("p1", FACILITY, ["labs"]), base)  # no end: longer
    assert widens(sharing_consent("p1", FACILITY, ["documents"], end="2030-01-01"), base)
    assert widens(sharing_consent("p1", "9999999999", ["labs"], end="2030-01-01"), base)
    assert widens(
        sharing_consent("p1", FACILITY, ["labs"], start="2019-01-01", end="2030-01-01"), base
    )
    assert not widens(sharing_consent("p1", FACILITY, ["labs"], status="proposed"), None)
