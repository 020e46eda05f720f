"""Fast paths of the validator give the same answers as the slow ones they stand in for.

- a contained resource matched to a slice by profile is walked once; its issues are replayed
  for the slice content instead of walking it again (`Walk._replayed`);
- string formats, value-set membership and `matches()` with a literal pattern remember or
  precompile their answers;
- days 01-28 skip the calendar.
"""

from __future__ import annotations

import calendar
import copy
import re
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.validation.test_mutations import BASES
from tsunagu.fhir.outcomes import Issue
from tsunagu.validation import primitives, terminology
from tsunagu.validation.fhirpath import compile_expression
from tsunagu.validation.fhirpath_ops import Env
from tsunagu.validation.packages import PackageIndex
from tsunagu.validation.terminology import PackageTerminology
from tsunagu.validation.validator import Validator
from tsunagu.validation.walker import Walk

Json = dict[str, Any]
WITH_CONTAINED = ("clins_condition", "clins_observation")
ODD_VALUES: list[Any] = [None, {}, [], "", " x", "#nope", "Patient/1", 5, True, {"x": 1}]


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _mutated(base: Json, choice: int, replacement: Any, drop: bool) -> Json:
    """`base` with one value inside its contained resources replaced or removed."""
    resource = copy.deepcopy(base)
    paths = [p for p in _paths(resource["contained"]) if len(p) > 1]
    path = paths[choice % len(paths)]
    parent: Any = resource["contained"]
    for step in path[:-1]:
        parent = parent[step]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(replacement)
    return resource


def _as_tuples(issues: list[Issue]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [(i.severity, i.code, i.message, tuple(i.expression)) for i in issues]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(WITH_CONTAINED),
    choice=st.integers(min_value=0, max_value=200),
    replacement=st.sampled_from(ODD_VALUES),
    drop=st.booleans(),
)
def test_replayed_contained_issues_equal_a_second_walk(
    validator: Validator, name: str, choice: int, replacement: Any, drop: bool
) -> None:
    resource = _mutated(BASES[name](), choice, replacement, drop)
    fast = _outcome(validator, resource)
    with mock.patch.object(Walk, "_replayed", return_value=False):
        slow = _outcome(validator, resource)
    assert fast == slow


def _outcome(validator: Validator, resource: Json) -> Any:
    try:
        return _as_tuples(validator.validate(copy.deepcopy(resource)))
    except TypeError as exc:  # malformed input the validator does not survive yet
        return type(exc).__name__


def test_contained_resources_are_replayed_not_walked_twice(validator: Validator) -> None:
    resource = BASES["clins_observation"]()
    del resource["contained"][0]["status"]  # Encounter.status is 1..1
    calls: list[bool] = []
    original = Walk._replayed

    def spy(self: Walk, *args: Any) -> bool:
        calls.append(original(self, *args))
        return calls[-1]

    with mock.patch.object(Walk, "_replayed", spy):
        issues = validator.validate(resource)
    assert True in calls
    assert ("required", ("Observation.contained[0].status",)) in [
        (i.code, tuple(i.expression)) for i in issues
    ]


def _reference_calendar(text: str) -> bool:
    if len(text) < 10:
        return True
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return day <= calendar.monthrange(year, month)[1]


@given(
    year=st.integers(min_value=1, max_value=9999),
    month=st.integers(min_value=1, max_value=12),
    day=st.integers(min_value=1, max_value=31),
    tail=st.sampled_from(["", "T10:00:00+09:00", "T23:59:60Z"]),
)
def test_calendar_shortcut_agrees_with_the_calendar(
    year: int, month: int, day: int, tail: str
) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}{tail}"
    assert primitives._calendar_ok(text) == _reference_calendar(text)


REGEX_CHECKS = {
    "code": primitives.CODE,
    "id": primitives.ID,
    "uri": primitives.URI,
    "oid": primitives.OID,
    "date": primitives.DATE,
    "dateTime": primitives.DATE_TIME,
    "instant": primitives.INSTANT,
}


@given(
    code=st.sampled_from(sorted(REGEX_CHECKS)),
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}\+09:00)?"),
        st.sampled_from(["a b", "a  b", " a", "urn:oid:1.2.3", "2024-02-30", "x" * 300]),
    ),
)
def test_remembered_string_checks_agree_with_their_regex(code: str, text: str) -> None:
    regex = REGEX_CHECKS[code]
    valid = regex.fullmatch(text) is not None
    if code in ("date", "dateTime", "instant"):
        valid = valid and _reference_calendar(text)
    check = primitives.CHECKS[code]
    first, second = check(text), check(text)  # the second answer comes from the memo
    assert first == second
    assert (first is None) == valid


def test_string_check_memo_is_bounded() -> None:
    check = primitives.CHECKS["id"]
    for number in range(primitives.MEMO_SIZE + 10):
        assert check(f"id-{number}") is None
    assert check("not valid!") is not None
    assert check("x" * 300) is not None  # too long to remember, and not an id


def test_value_set_answers_are_remembered_and_bounded() -> None:
    fresh = PackageTerminology(PackageIndex.load_default())
    url = "http://hl7.org/fhir/ValueSet/administrative-gender"
    system = "http://hl7.org/fhir/administrative-gender"
    with mock.patch.object(terminology, "MEMO_SIZE", 2):
        answers = [fresh.check_code(url, system, code) for code in ("male", "x", "female", "x")]
        assert answers == ["valid", "invalid", "valid", "invalid"]
        assert fresh.check_code(url, None, "other") == "valid"
        assert fresh.check_code(url, None, "nope") == "invalid"
        assert len(fresh._answers) <= 2


LITERAL_EXPRESSIONS = [
    ("system = 'http://x'", "system = ('http://x')"),
    ("system != 'http://x'", "system != ('http://x')"),
    ("value.matches('^[0-9]+$')", "value.matches(('^[0-9]+$'))"),
]


@given(
    pair=st.sampled_from(LITERAL_EXPRESSIONS),
    value=st.one_of(
        st.sampled_from(["http://x", "http://y", "123", "12a", "", True, 1, 1.5, None]),
        st.lists(st.sampled_from(["http://x", "1", 2]), max_size=3),
        st.dictionaries(st.sampled_from(["a"]), st.just("http://x"), max_size=1),
    ),
    key=st.sampled_from(["system", "value"]),
)
def test_literal_fast_paths_agree_with_the_general_operators(
    pair: tuple[str, str], value: Any, key: str
) -> None:
    fast, general = (compile_expression(text) for text in pair)
    env = Env({}, {}, lambda _ref: None, lambda _value, _url: True, lambda _v, _u: None)
    data = [{key: value}]
    assert fast(data, env) == general(data, env)


def test_invalid_literal_pattern_still_fails_when_evaluated() -> None:
    fn = compile_expression("value.matches('[unclosed')")
    env = Env({}, {}, lambda _ref: None, lambda _value, _url: True, lambda _v, _u: None)
    with pytest.raises(re.error):
        fn([{"value": "x"}], env)
