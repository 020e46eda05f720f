"""Disaster declarations: areas, periods, facilities covered, categories opened, Basic form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.disaster import (
    AREA_EXTENSION,
    CATEGORY_EXTENSION,
    DEFAULT_CATEGORIES,
    PERIOD_EXTENSION,
    PREFECTURES,
    Declaration,
    DeclarationError,
    declaration_from_resource,
    declaration_resource,
    facility_prefecture,
    is_declaration,
    municipality_check_digit,
    open_categories,
    parse_municipality,
)
from tsunagu.security.categories import Category

START = datetime(2024, 1, 1, 16, 10, tzinfo=UTC)
END = datetime(2024, 3, 7, tzinfo=UTC)
NOTO = Declaration(
    "令和6年能登半島地震",
    START,
    END,
    municipalities=frozenset({"17204", "17205"}),  # 輪島市, 珠洲市
    serving_facilities=frozenset({"1311234567"}),
)
ISHIKAWA_CLINIC = "1710123456"
TOYAMA_CLINIC = "1610123456"
TOKYO_HOSPITAL = "1311234567"


def test_default_categories_are_known_categories() -> None:
    assert {Category(c) for c in DEFAULT_CATEGORIES} == {
        Category.PRESCRIPTIONS,
        Category.DIAGNOSES,
        Category.ALLERGIES,
        Category.CONTRAINDICATIONS,
    }


def test_municipality_codes() -> None:
    assert municipality_check_digit("01100") == 2  # 札幌市 011002
    assert municipality_check_digit("13101") == 6  # 千代田区 131016
    assert parse_municipality("131016") == "13101"
    assert parse_municipality("17204") == "17204"
    for bad in ("131017", "1310", "99101", "ab101"):
        with pytest.raises(ValueError, match=" / "):
            parse_municipality(bad)


def test_facility_prefecture() -> None:
    assert facility_prefecture(ISHIKAWA_CLINIC) == "17"
    assert facility_prefecture("4810123456") is None
    assert facility_prefecture("17101") is None


def test_coverage_by_area_and_serving_facility() -> None:
    during = START + timedelta(days=3)
    assert NOTO.covers(ISHIKAWA_CLINIC, during)  # same prefecture as the municipalities
    assert NOTO.covers(TOKYO_HOSPITAL, during)  # listed as serving
    assert not NOTO.covers(TOYAMA_CLINIC, during)
    assert open_categories([NOTO], ISHIKAWA_CLINIC, during) == DEFAULT_CATEGORIES
    assert open_categories([NOTO], TOYAMA_CLINIC, during) == frozenset()


def test_it_ends_by_itself() -> None:
    assert NOTO.active(START)
    assert not NOTO.active(START - timedelta(seconds=1))
    assert not NOTO.active(END)  # [start, end)
    assert open_categories([NOTO], ISHIKAWA_CLINIC, END) == frozenset()


@given(st.sampled_from(sorted(PREFECTURES)), st.sampled_from(sorted(PREFECTURES)))
def test_prefecture_declarations(declared: str, facility_pref: str) -> None:
    declaration = Declaration("x", START, END, prefectures=frozenset({declared}))
    facility = f"{facility_pref}10123456"
    assert declaration.covers(facility, START) == (declared == facility_pref)


def test_union_of_categories() -> None:
    narrow = Declaration(
        "y", START, END, prefectures=frozenset({"16"}), categories=frozenset({"prescriptions"})
    )
    assert open_categories([NOTO, narrow], TOYAMA_CLINIC, START) == {"prescriptions"}


def test_basic_round_trip() -> None:
    resource = declaration_resource(NOTO)
    assert resource["resourceType"] == "Basic"
    assert is_declaration(resource)
    assert not is_declaration({"resourceType": "Basic", "code": {"coding": []}})
    assert declaration_from_resource(resource) == NOTO
    resource["id"] = "d1"
    assert declaration_from_resource(resource).id == "d1"


def test_invalid_declarations_list_every_problem() -> None:
    resource = declaration_resource(NOTO)
    for extension in resource["extension"]:
        if extension["url"] == PERIOD_EXTENSION:
            extension["valuePeriod"] = {"start": "2024-03-07T00:00:00Z", "end": "2024-01-01"}
        if extension["url"] == AREA_EXTENSION:
            extension["valueCodeableConcept"]["coding"][0]["code"] = "99999"
    resource["extension"].append({"url": CATEGORY_EXTENSION, "valueCoding": {"code": "documents"}})
    with pytest.raises(DeclarationError) as caught:
        declaration_from_resource(resource)
    expressions = [e for issue in caught.value.issues for e in issue.expression]
    assert any(e.endswith(".valuePeriod") for e in expressions)
    assert sum(e.endswith("valueCodeableConcept.coding[0]") for e in expressions) == 2
    assert any(e.endswith("valueCoding.code") for e in expressions)


def test_end_before_start_and_no_area() -> None:
    resource = declaration_resource(
        Declaration("z", END, START + timedelta(days=1), prefectures=frozenset({"17"}))
    )
    resource["extension"] = [e for e in resource["extension"] if e["url"] != AREA_EXTENSION]
    with pytest.raises(DeclarationError) as caught:
        declaration_from_resource(resource)
    messages = " ".join(i.message for i in caught.value.issues)
    assert "終了が開始より前" in messages
    assert "no area" in messages
