"""Malformed JSON never crashes the validator: any value of any JSON type, anywhere in a
resource, gives issues (a 422 over HTTP), never an exception (a 500)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.validation.test_fast_paths import _paths
from tests.unit.validation.test_mutations import BASES
from tsunagu.validation.validator import Validator

Json = dict[str, Any]
ODD_VALUES: list[Any] = [None, True, 0, 1.5, "", "x", {}, [], {"a": 1}, [1], [{}], [None]]


def _replace(resource: Json, path: tuple[str | int, ...], value: Any) -> Json:
    out = copy.deepcopy(resource)
    parent: Any = out
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Patient", "meta": {"profile": True}}, "Patient.meta.profile"),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/1"},
                "code": {"coding": 5},
            },
            "Condition.code.coding",
        ),
        (
            {"resourceType": "Patient", "contained": [{"resourceType": "Basic", "id": {"a": 1}}]},
            "Patient.contained[0].id",
        ),
    ],
    ids=["meta.profile-boolean", "coding-number", "contained-id-object"],
)
def test_wrong_json_types_are_issues(validator: Validator, resource: Json, expression: str) -> None:
    issues = validator.validate(resource)
    assert any(
        issue.severity == "error" and issue.expression == (expression,) for issue in issues
    ), issues


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(BASES)),
    choice=st.integers(min_value=0, max_value=10_000),
    value=st.sampled_from(ODD_VALUES),
)
def test_any_value_anywhere_gives_issues_not_errors(
    validator: Validator, base: str, choice: int, value: Any
) -> None:
    resource = BASES[base]()
    paths = [path for path in _paths(resource) if path]
    path = paths[choice % len(paths)]
    mutated = _replace(resource, path, value)
    issues = validator.validate(mutated)  # must not raise
    original: Any = resource
    for step in path:
        original = original[step]
    if _kind(original) != _kind(value):
        assert any(i.severity == "error" for i in issues), f"{base}: {path} = {value!r} passed"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__
