"""SMART scopes: v2 letters, v1 forms, levels, and what they never grant."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.security.scopes import LETTERS, Level, ScopeSet, parse_scope


@pytest.mark.parametrize(
    ("text", "level", "resource_type", "letters"),
    [
        ("patient/*.rs", Level.PATIENT, "*", "rs"),
        ("user/Observation.cruds", Level.USER, "Observation", "cruds"),
        ("system/*.rs", Level.SYSTEM, "*", "rs"),
        ("user/Condition.c", Level.USER, "Condition", "c"),
        ("patient/Observation.read", Level.PATIENT, "Observation", "rs"),
        ("user/*.write", Level.USER, "*", "cud"),
        ("system/Patient.*", Level.SYSTEM, "Patient", "cruds"),
    ],
)
def test_scopes_parse_to_their_v2_meaning(
    text: str, level: Level, resource_type: str, letters: str
) -> None:
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.level, scope.resource_type, scope.letters) == (
        level,
        resource_type,
        frozenset(letters),
    )


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "launch/patient",
        "offline_access",
        "user/Observation.",
        "user/Observation.sr",  # v2 letters must come in c r u d s order
        "user/Observation.rr",
        "user/Observation.rx",
        "admin/*.rs",
        "user/observation.rs",
        "patient/Observation.rs?category=laboratory",  # fine-grained: not granted here
    ],
)
def test_other_scopes_grant_nothing(text: str) -> None:
    assert parse_scope(text) is None


def test_a_scope_set_allows_only_covered_type_and_letter() -> None:
    scopes = ScopeSet.parse(["user/Observation.rs patient/Condition.r openid"])
    assert scopes.allows("Observation", "r")
    assert scopes.allows("Observation", "s")
    assert not scopes.allows("Observation", "c")
    assert not scopes.allows("Patient", "r")
    assert scopes.patient_only("Condition", "r")
    assert not scopes.patient_only("Observation", "r")
    assert not scopes.allows("Condition", "s")


def test_a_user_scope_lifts_the_patient_confinement_of_a_wildcard() -> None:
    scopes = ScopeSet.parse(["patient/*.rs", "user/Organization.rs"])
    assert scopes.patient_only("Observation", "r")
    assert not scopes.patient_only("Organization", "r")


@given(st.sets(st.sampled_from(LETTERS), min_size=1))
def test_any_ordered_letter_set_is_exactly_what_it_grants(letters: set[str]) -> None:
    text = "".join(letter for letter in LETTERS if letter in letters)
    scopes = ScopeSet.parse([f"user/Observation.{text}"])
    for letter in LETTERS:
        assert scopes.allows("Observation", letter) is (letter in letters)
        assert not scopes.allows("Condition", letter)


@given(st.text(max_size=40))
def test_parsing_arbitrary_text_never_fails(text: str) -> None:
    scope = parse_scope(text)
    assert scope is None or scope.letters <= frozenset(LETTERS)
