"""Bad searches are refused with 400 and an OperationOutcome; unknown parameters are ignored
and reported (lenient, the default) or refused (`Prefer: handling=strict`).

See: https://hl7.org/fhir/R4/search.html#errors and https://hl7.org/fhir/R4/http.html#prefer
"""

from __future__ import annotations

import pytest
from _pytest.mark.structures import ParameterSet

from tests.api.search.support import (
    Bundle,
    SearchServer,
    all_pats,
    check,
    entry_ids,
    outcomes,
    pats,
)

STRICT = {"prefer": "handling=strict"}
LENIENT = {"prefer": "handling=lenient"}

BAD_REQUESTS: list[str | ParameterSet] = [
    # Values that cannot be parsed as the parameter's type.
    "Patient?birthdate=abc",
    "Patient?birthdate=2024-13-01",
    "Patient?birthdate=2024-02-30",
    "Patient?birthdate=ge",
    "Patient?_lastUpdated=yesterday",
    "Observation?value-quantity=abc",
    "Observation?value-quantity=gt||mg/dL",
    "RiskAssessment?probability=high",
    "Patient?active:missing=maybe",
    # Result parameters out of range.
    "Patient?_count=-1",
    "Patient?_count=abc",
    "Patient?_total=maybe",
    "Patient?_summary=bogus",
    # Modifiers the parameter's type does not have.
    "Patient?family:foo=山田",
    "Patient?gender:exact=male",
    "Patient?birthdate:exact=1970",
    "Patient?_id:contains=pat",
    "Observation?code:below=4548-4",
    "Observation?value-quantity:text=6.5",
    "Patient?identifier:of-type=MR|00000001",
    # Sorting by something that is not a parameter.
    "Patient?_sort=foo",
    "Patient?_sort=birthdate,-nonsense",
    # Malformed reverse chains.
    "Patient?_has:Observation:patient=x",
    "Patient?_has:Foo:patient:code=x",
    "Patient?_has:Observation:code:code=4548-4",
    "Patient?_has:Observation",
    # Chaining through a parameter that is not a reference.
    "Patient?name.family=山田",
    # A type modifier that is not a resource type.
    "Observation?subject:Foo=pat-01",
    # $everything with an unparseable _since.
    "Patient/pat-06/$everything?_since=yesterday",
    # Includes that name no reference parameter, or an unknown type.
    "Patient?_include=Patient",
    "Patient?_include=Foo:bar",
    "Patient?_include=Patient:name",
    "Patient?_revinclude=Observation:code",
    "Patient?_include:recurse=Patient:organization:foo:bar",
    # System search over an unknown type; a cursor that the server never issued.
    "?_type=Patient,Foo",
    "Patient?_cursor=garbage",
    "Patient?_cursor=eyJub3QiOiJhIGN1cnNvciJ9",
]


def _assert_refused(status: int, body: Bundle) -> None:
    assert status == 400, body
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    assert all(issue["severity"] in ("error", "fatal") for issue in body["issue"]), body


@pytest.mark.parametrize(
    "query", [q if isinstance(q, ParameterSet) else pytest.param(q, id=q) for q in BAD_REQUESTS]
)
def test_bad_search_is_refused(server: SearchServer, query: str) -> None:
    _assert_refused(*server.get(query))


@pytest.mark.parametrize(
    "query", [pytest.param(q, id=q) for q in BAD_REQUESTS[:6] if isinstance(q, str)]
)
def test_bad_search_is_refused_over_post(server: SearchServer, query: str) -> None:
    path, _, body = query.partition("?")
    response = server.client.post(
        f"/fhir/{path}/_search",
        content=body.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    _assert_refused(response.status_code, response.json())


# Parameters the server does not know or does not implement, with the expected matches when
# they are ignored.
IGNORED = [
    ("Patient?foo=bar&family=山田", "foo", pats(1, 2)),
    ("Patient?_content=糖尿病&gender=female", "_content", pats(2, 4, 6, 8, 12)),
    ("Patient?_text=山田&family=田中", "_text", pats(3)),
    ("Patient?_filter=family eq 山田&_id=pat-09", "_filter", pats(9)),
    ("Patient?_query=example&_id=pat-09", "_query", pats(9)),
    ("Patient?_list=list-1&_id=pat-09", "_list", pats(9)),
    ("Observation?subject:Patient.foo=x&code=8867-4", "subject:Patient.foo", {"obs-hr-02"}),
    ("Patient?bogus-param=1", "bogus-param", all_pats()),
    # At system level only parameters common to every type are searched.
    ("?name=佐藤&_id=prac-01", "name", {"prac-01"}),
]


@pytest.mark.parametrize(
    ("query", "name", "expected"), [pytest.param(*row, id=row[0]) for row in IGNORED]
)
@pytest.mark.parametrize("headers", [None, LENIENT], ids=["default", "lenient"])
def test_unknown_parameter_is_ignored_and_reported(
    server: SearchServer,
    query: str,
    name: str,
    expected: set[str],
    headers: dict[str, str] | None,
) -> None:
    status, bundle = server.get(query, headers=headers)
    assert status == 200, bundle
    check(entry_ids(bundle), expected)
    (outcome,) = outcomes(bundle)
    assert outcome["resourceType"] == "OperationOutcome"
    reported = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert name in reported, outcome
    assert all(issue["severity"] in ("warning", "information") for issue in outcome["issue"])


@pytest.mark.parametrize("query", [pytest.param(row[0], id=row[0]) for row in IGNORED])
def test_unknown_parameter_is_refused_when_strict(server: SearchServer, query: str) -> None:
    _assert_refused(*server.get(query, headers=STRICT))


def test_strict_handling_accepts_known_parameters(server: SearchServer) -> None:
    status, bundle = server.get("Patient?family=山田&_sort=_id&_count=10", headers=STRICT)
    assert status == 200, bundle
    assert entry_ids(bundle) == ["pat-01", "pat-02"]
    assert outcomes(bundle) == []
