"""`_summary` and `_elements` subsetting on small inline resources."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.definitions import Definitions, load_definitions
from tsunagu.fhir.elements import (
    SUBSETTED_CODE,
    SUBSETTED_SYSTEM,
    mark_subsetted,
    select_elements,
    summarize,
)

SUBSETTED = {
    "system": SUBSETTED_SYSTEM,
    "code": SUBSETTED_CODE,
    "display": "Resource encoded in summary mode",
}


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return load_definitions()


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "2", "tag": [{"system": "http://example.org/tags", "code": "x"}]},
        "text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'/>"},
        "extension": [{"url": "http://example.org/ext", "valueString": "e"}],
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.1", "value": "12345"}],
        "active": True,
        "name": [{"family": "山田", "given": ["太郎"], "extension": [{"url": "u"}]}],
        "gender": "male",
        "birthDate": "1970-01-01",
        "_birthDate": {"extension": [{"url": "http://example.org/time", "valueTime": "10:00"}]},
        "deceasedBoolean": False,
        "maritalStatus": {"text": "既婚"},
        "photo": [{"contentType": "image/png", "data": "AAAA"}],
        "contact": [{"name": {"family": "山田"}}],
        "link": [
            {
                "other": {"reference": "Patient/p2"},
                "type": "seealso",
                "extension": [{"url": "not-summary"}],
            }
        ],
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'/>"},
        "status": "final",
        "category": [{"text": "vital-signs"}],
        "code": {"text": "Blood pressure"},
        "subject": {"reference": "Patient/p1"},
        "valueString": "n/a",
        "interpretation": [{"text": "normal"}],
        "referenceRange": [{"text": "under 120"}],
        "component": [
            {
                "code": {"text": "systolic"},
                "valueQuantity": {"value": 120, "unit": "mmHg"},
                "interpretation": [{"text": "normal"}],
                "referenceRange": [{"text": "under 120"}],
            },
            {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80, "unit": "mmHg"}},
        ],
    }


def tags(resource: dict[str, Any]) -> list[Any]:
    tag_list: list[Any] = resource["meta"]["tag"]
    return tag_list


# --- _summary=true ---------------------------------------------------------------------------


def test_summary_true_patient(defs: Definitions) -> None:
    result = summarize(patient(), "true", defs)
    assert set(result) == {
        "resourceType",
        "id",
        "meta",
        "identifier",
        "active",
        "name",
        "gender",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
        "link",
    }
    # Datatypes are kept whole, BackboneElements keep only their summary children.
    assert result["name"] == patient()["name"]
    assert result["link"] == [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]
    assert result["meta"]["versionId"] == "2"
    assert tags(result) == [{"system": "http://example.org/tags", "code": "x"}, SUBSETTED]


def test_summary_true_recurses_into_component(defs: Definitions) -> None:
    result = summarize(observation(), "true", defs)
    assert "interpretation" not in result
    assert "referenceRange" not in result
    assert "category" not in result
    assert "text" not in result
    assert result["valueString"] == "n/a"
    assert result["component"] == [
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
        {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80, "unit": "mmHg"}},
    ]


def test_summary_true_adds_meta_after_id(defs: Definitions) -> None:
    result = summarize(observation(), "true", defs)
    assert list(result)[:3] == ["resourceType", "id", "meta"]
    assert result["meta"] == {"tag": [SUBSETTED]}


def test_summary_true_recursive_structure(defs: Definitions) -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "outer",
                "extension": [{"url": "dropped"}],
                "part": [
                    {
                        "name": "inner",
                        "valueString": "v",
                        "extension": [{"url": "dropped"}],
                        "part": [{"name": "deepest", "valueInteger": 1, "id": "dropped"}],
                    }
                ],
            }
        ],
    }
    result = summarize(parameters, "true", defs)
    assert result["parameter"] == [
        {
            "name": "outer",
            "part": [
                {
                    "name": "inner",
                    "valueString": "v",
                    "part": [{"name": "deepest", "valueInteger": 1}],
                }
            ],
        }
    ]


def test_summary_true_bundle_keeps_entries_whole(defs: Definitions) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [{"fullUrl": "urn:uuid:1", "resource": patient(), "search": {"mode": "match"}}],
    }
    result = summarize(bundle, "true", defs)
    assert result["entry"] == bundle["entry"]
    assert result["type"] == "searchset"


def test_summary_drops_backbone_left_empty(defs: Definitions) -> None:
    resource = {
        "resourceType": "Patient",
        "link": [{"extension": [{"url": "x"}]}, {"type": "refer"}],
    }
    assert summarize(resource, "true", defs)["link"] == [{"type": "refer"}]
    resource["link"] = [{"extension": [{"url": "x"}]}]
    assert "link" not in summarize(resource, "true", defs)


# --- _summary=text / data / false ------------------------------------------------------------


def test_summary_text(defs: Definitions) -> None:
    result = summarize(observation(), "text", defs)
    assert set(result) == {"resourceType", "id", "meta", "text", "status", "code"}
    assert SUBSETTED in tags(result)


def test_summary_data(defs: Definitions) -> None:
    source = observation()
    result = summarize(source, "data", defs)
    assert "text" not in result
    expected = {key: value for key, value in source.items() if key != "text"}
    assert {key: value for key, value in result.items() if key != "meta"} == expected
    assert tags(result) == [SUBSETTED]


def test_summary_false_is_an_unchanged_copy(defs: Definitions) -> None:
    source = patient()
    result = summarize(source, "false", defs)
    assert result == source
    result["name"][0]["family"] = "changed"
    assert source["name"][0]["family"] == "山田"


@pytest.mark.parametrize("mode", ["count", "TRUE", ""])
def test_summary_rejects_other_modes(defs: Definitions, mode: str) -> None:
    with pytest.raises(ValueError, match="_summary"):
        summarize(patient(), mode, defs)


def test_subsetted_tag_not_duplicated(defs: Definitions) -> None:
    once = summarize(patient(), "true", defs)
    twice = summarize(once, "true", defs)
    assert twice == once
    assert tags(twice).count(SUBSETTED) == 1


def test_unknown_type_keeps_only_the_basics(defs: Definitions) -> None:
    resource = {"resourceType": "Unknown", "id": "u", "foo": 1}
    assert summarize(resource, "true", defs) == {
        "resourceType": "Unknown",
        "id": "u",
        "meta": {"tag": [SUBSETTED]},
    }


# --- _elements -------------------------------------------------------------------------------


def test_select_elements(defs: Definitions) -> None:
    result = select_elements(patient(), ["name", "Patient.gender", "birthDate"], defs)
    assert set(result) == {
        "resourceType",
        "id",
        "meta",
        "name",
        "gender",
        "birthDate",
        "_birthDate",
    }
    assert SUBSETTED in tags(result)


def test_select_elements_choice_names(defs: Definitions) -> None:
    for name in ("deceased", "deceased[x]", "Patient.deceased[x]", "deceasedBoolean"):
        result = select_elements(patient(), [name], defs)
        assert result["deceasedBoolean"] is False, name
    observation_result = select_elements(observation(), ["value"], defs)
    assert observation_result["valueString"] == "n/a"


def test_select_elements_keeps_mandatory(defs: Definitions) -> None:
    result = select_elements(observation(), ["subject"], defs)
    assert set(result) == {"resourceType", "id", "meta", "status", "code", "subject"}


def test_select_elements_unknown_and_foreign_names(defs: Definitions) -> None:
    result = select_elements(patient(), ["nothing", "Observation.name", "", " "], defs)
    assert set(result) == {"resourceType", "id", "meta"}


def test_select_elements_nested_path_keeps_top_level_element(defs: Definitions) -> None:
    result = select_elements(patient(), ["Patient.name.given"], defs)
    assert result["name"] == patient()["name"]


def test_select_elements_accepts_parameter_string(defs: Definitions) -> None:
    result = select_elements(patient(), "name,gender", defs)
    assert {"name", "gender"} <= set(result)
    assert "photo" not in result


def test_mark_subsetted_copies(defs: Definitions) -> None:
    source = {"resourceType": "Patient", "meta": {"tag": [SUBSETTED]}}
    result = mark_subsetted(source)
    assert result == source
    assert result["meta"] is not source["meta"]


# --- properties ------------------------------------------------------------------------------

_TYPES = ["Patient", "Observation", "Bundle", "Parameters", "Encounter", "Unknown"]
_KEYS = [
    "id", "meta", "text", "name", "status", "code", "component", "link", "entry", "parameter",
    "valueQuantity", "valueString", "birthDate", "_birthDate", "photo", "contact", "subject",
    "identifier", "extension", "type", "part", "other", "resource",
]  # fmt: skip
_scalars = st.none() | st.booleans() | st.integers() | st.text(alphabet="ab山", max_size=3)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=4)
    ),
    max_leaves=8,
)
_resources = st.builds(
    lambda rtype, body: {"resourceType": rtype, **body},
    st.sampled_from(_TYPES),
    st.dictionaries(st.sampled_from(_KEYS), _json, max_size=6),
)
_modes = st.sampled_from(["true", "text", "data"])
_element_lists = st.lists(st.sampled_from([*_KEYS, "value", "value[x]", "Patient.name"]))


@given(_resources)
def test_summary_false_is_identity(resource: dict[str, Any]) -> None:
    assert summarize(resource, "false", load_definitions()) == resource


@given(_resources, _modes)
def test_summary_never_mutates_and_keeps_basics(resource: dict[str, Any], mode: str) -> None:
    before = copy.deepcopy(resource)
    result = summarize(resource, mode, load_definitions())
    assert resource == before
    assert result["resourceType"] == resource["resourceType"]
    if "id" in resource:
        assert result["id"] == resource["id"]
    assert SUBSETTED in tags(result)
    assert set(result) <= set(resource) | {"meta"}


@given(_resources, _modes)
def test_summary_is_idempotent(resource: dict[str, Any], mode: str) -> None:
    defs = load_definitions()
    once = summarize(resource, mode, defs)
    assert summarize(once, mode, defs) == once


@given(_resources, _element_lists)
def test_select_elements_keeps_basics(resource: dict[str, Any], elements: list[str]) -> None:
    before = copy.deepcopy(resource)
    result = select_elements(resource, elements, load_definitions())
    assert resource == before
    assert result["resourceType"] == resource["resourceType"]
    if "id" in resource:
        assert result["id"] == resource["id"]
    assert SUBSETTED in tags(result)
    for key in set(result) - {"meta"}:
        assert result[key] == resource[key]
