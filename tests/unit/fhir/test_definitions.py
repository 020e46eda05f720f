"""The vendored FHIR R4 core definitions load and say what the specification says."""

from __future__ import annotations

import gzip
from importlib import resources

import orjson
import pytest

from tsunagu.fhir.definitions import (
    Definitions,
    SearchParameterDef,
    load_definitions,
    parse_definitions,
)


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return load_definitions()


def test_load_is_cached() -> None:
    assert load_definitions() is load_definitions()


def test_version(defs: Definitions) -> None:
    assert defs.fhir_version == "4.0.1"


def test_resource_types(defs: Definitions) -> None:
    assert len(defs.resource_types) == 146
    for name in ("Patient", "Observation", "Bundle", "Parameters", "Binary", "OperationOutcome"):
        assert defs.is_resource_type(name)
    for name in ("Resource", "DomainResource", "HumanName", "BackboneElement", "patient", ""):
        assert not defs.is_resource_type(name)


def test_resource_bases(defs: Definitions) -> None:
    plain = {name for name in defs.resource_types if not defs.is_domain_resource(name)}
    assert plain == {"Binary", "Bundle", "Parameters"}


def test_patient_summary(defs: Definitions) -> None:
    tree = defs.summary["Patient"]
    for name in ("id", "meta", "identifier", "name", "birthDate", "gender", "address"):
        assert name in tree
    for name in ("photo", "contact", "communication", "text", "maritalStatus"):
        assert name not in tree
    # A complex datatype is kept whole; choices are expanded to their JSON names.
    assert tree["name"] is None
    assert "deceasedBoolean" in tree
    assert "deceasedDateTime" in tree
    assert "deceased[x]" not in tree
    # Patient.link is a summary BackboneElement: only its summary children.
    link = tree["link"]
    assert link is not None
    assert set(link) == {"modifierExtension", "other", "type"}


def test_observation_summary_recurses_into_component(defs: Definitions) -> None:
    tree = defs.summary["Observation"]
    assert "valueQuantity" in tree
    assert "valueString" in tree
    assert "referenceRange" not in tree
    assert "interpretation" not in tree
    component = tree["component"]
    assert component is not None
    assert "code" in component
    assert "valueQuantity" in component
    assert "interpretation" not in component
    assert "referenceRange" not in component


def test_summary_resolves_content_references(defs: Definitions) -> None:
    parameter = defs.summary["Parameters"]["parameter"]
    assert parameter is not None
    assert parameter["part"] is parameter  # recursive structure
    bundle = defs.summary["Bundle"]
    entry = bundle["entry"]
    assert entry is not None
    assert entry["resource"] is None  # contained resources are kept whole
    link = entry["link"]
    assert link is not None
    assert set(link) == {"modifierExtension", "relation", "url"}


def test_mandatory(defs: Definitions) -> None:
    assert set(defs.mandatory["Observation"]) == {"status", "code"}
    assert defs.mandatory["Patient"] == ()
    assert "type" in defs.mandatory["Bundle"]


def test_json_names(defs: Definitions) -> None:
    expected = ("deceasedBoolean", "deceasedDateTime")
    assert defs.json_names("Patient", "deceased") == expected
    assert defs.json_names("Patient", "deceased[x]") == expected
    assert defs.json_names("Patient", "name") == ("name",)
    assert defs.json_names("Patient", "name[x]") == ()


def test_element_types_cover_resources_datatypes_and_backbones(defs: Definitions) -> None:
    patient = defs.element_types("Patient")
    assert patient["name"].types == ("HumanName",)
    assert patient["name"].is_array
    assert patient["birthDate"].types == ("date",)
    assert not patient["birthDate"].is_array
    assert patient["deceasedDateTime"].choice_of == "deceased"
    assert "deceased[x]" not in patient
    assert patient["contact"].owner == "Patient.contact"
    assert patient["id"].types == ("string",)  # inherited from Resource
    assert patient["text"].types == ("Narrative",)  # inherited from DomainResource
    assert defs.element_types("Patient.contact")["name"].types == ("HumanName",)
    assert "modifierExtension" in defs.element_types("Patient.contact")
    assert defs.element_types("HumanName")["given"].is_array
    assert defs.element_types("Timing.repeat")["boundsDuration"].types == ("Duration",)
    # contentReference: Questionnaire.item.item has the children of Questionnaire.item.
    nested = defs.element_types("Questionnaire.item")["item"]
    assert nested.owner == "Questionnaire.item"
    assert nested.types == ("BackboneElement",)
    assert defs.element_types("Nope") == {}
    assert defs.is_subtype("Age", "Quantity")
    assert defs.is_subtype("code", "string")
    assert defs.is_subtype("Patient", "Resource")
    assert not defs.is_subtype("Quantity", "Age")


def test_search_parameter_count(defs: Definitions) -> None:
    assert len(defs.search_parameters) == 1400
    assert all(isinstance(p, SearchParameterDef) for p in defs.search_parameters)
    assert len({p.url for p in defs.search_parameters}) == 1400


def test_search_parameters_for_patient(defs: Definitions) -> None:
    params = defs.search_parameters_for("Patient")
    for code in ("_id", "_lastUpdated", "_profile", "_tag", "_security", "_source", "_text"):
        assert code in params
    birthdate = params["birthdate"]
    assert birthdate.type == "date"
    assert birthdate.base == ("Patient", "Person", "RelatedPerson")
    assert birthdate.expression is not None
    assert "Patient.birthDate" in birthdate.expression
    assert params["_id"].url == "http://hl7.org/fhir/SearchParameter/Resource-id"
    org = params["organization"]
    assert org.type == "reference"
    assert org.target == ("Organization",)


def test_search_parameters_skip_examples(defs: Definitions) -> None:
    # The package's example SearchParameters must not shadow the core ones.
    assert defs.search_parameters_for("Condition")["subject"].url.endswith("/Condition-subject")
    example = defs.search_parameter("http://hl7.org/fhir/SearchParameter/example")
    assert example is not None
    assert example.experimental


def test_search_parameters_for_non_domain_resource(defs: Definitions) -> None:
    params = defs.search_parameters_for("Bundle")
    assert "_id" in params
    assert "_text" not in params  # DomainResource only
    assert "composition" in params


def test_search_parameters_for_resource_and_unknown(defs: Definitions) -> None:
    assert set(defs.search_parameters_for("Resource")) >= {"_id", "_lastUpdated", "_tag"}
    assert defs.search_parameters_for("NotAType") == {}


def test_composite_parameter(defs: Definitions) -> None:
    param = defs.search_parameters_for("Observation")["code-value-quantity"]
    assert param.type == "composite"
    assert len(param.component) == 2
    for component in param.component:
        assert defs.search_parameter(component.definition) is not None


def test_compartments(defs: Definitions) -> None:
    assert set(defs.compartments) == {
        "Patient",
        "Encounter",
        "RelatedPerson",
        "Practitioner",
        "Device",
    }
    assert "subject" in defs.compartment_params("Patient", "Observation")
    assert defs.compartment_params("Patient", "Patient") == ("link",)
    assert defs.compartment_params("Patient", "CodeSystem") == ()
    # The example CompartmentDefinition (also code Device) is not merged in.
    assert "Communication" in defs.compartments["Device"]
    assert len(defs.compartments["Device"]) > 2


def test_parse_rejects_unknown_search_type() -> None:
    raw = resources.files("tsunagu.fhir").joinpath("data", "r4-core.json.gz").read_bytes()
    document = orjson.loads(gzip.decompress(raw))
    document["searchParameters"] = [
        {"url": "http://x/sp", "code": "x", "base": ["Patient"], "type": "fuzzy"}
    ]
    with pytest.raises(ValueError, match="fuzzy"):
        parse_definitions(document)


def test_data_file_is_small_and_deterministic() -> None:
    raw = resources.files("tsunagu.fhir").joinpath("data", "r4-core.json.gz").read_bytes()
    assert len(raw) < 1_000_000
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
