"""The FHIRPath subset compiler used for invariants (tsunagu.validation.fhirpath)."""

from __future__ import annotations

from typing import Any

import pytest

from tsunagu.validation.fhirpath import Env, Unsupported, compile_expression

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [
        {"system": "urn:a", "value": "1"},
        {"system": "urn:b", "value": "00012345:x:y:01"},
    ],
    "name": [{"family": "山田", "given": ["太郎", "一"]}],
    "deceasedBoolean": False,
    "contact": [{"name": {"text": "x"}}],
}


def run(expression: str, value: Any = PATIENT) -> list[Any]:
    env = Env(value, value, lambda _r: None, lambda _v, _u: True, lambda _v, _u: None)
    return compile_expression(expression)([value], env)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("name.given.count()", [2]),
        ("identifier.where(system = 'urn:b').exists()", [True]),
        ("identifier.where(system = 'urn:c').empty()", [True]),
        ("identifier.where(system = 'urn:b').value.matches('^[0-9]{8}:.*:[0-9]{2}$')", [True]),
        ("deceased.exists() and deceased = false", [True]),
        ("deceased.ofType(boolean).exists()", [True]),
        ("deceased.ofType(dateTime).exists()", [False]),
        ("deceased is Boolean", [True]),
        ("birthDate.empty() or birthDate < '2000'", [True]),
        ("name.family.empty() implies false", [True]),
        ("name.family.exists() implies false", [False]),
        ("(1 | 2 | 2).count() = 2", [True]),
        ("identifier.system.isDistinct()", [True]),
        ("identifier.first().system.substring(4, 1)", ["a"]),
        ("'a' in ('a' | 'b')", [True]),
        ("contact.all(name.exists() or telecom.exists())", [True]),
        ("name.given.first() & '様'", ["太郎様"]),
        ("identifier[1].system", ["urn:b"]),
        ("Patient.name.family", ["山田"]),
        ("{}.empty()", [True]),
        ("iif(name.exists(), 'y', 'n')", ["y"]),
        ("missing.exists().not()", [True]),
        ("true xor false", [True]),
        ("missing = 1", []),
    ],
)
def test_expressions(expression: str, expected: list[Any]) -> None:
    assert run(expression) == expected


def test_choice_names_are_not_prefix_matches() -> None:
    # `response` is no choice element: `responseCode` must not be read as `response`.
    assert run("response.count()", {"responseCode": "200"}) == [0]
    assert run("value.count()", {"valueQuantity": {"value": 1}}) == [1]


@pytest.mark.parametrize("expression", ["descendants()", "1 * 2", "toInteger()", "$index"])
def test_unsupported_parts_are_reported_at_compile_time(expression: str) -> None:
    with pytest.raises(Unsupported):
        compile_expression(expression)
