"""Vendored conformance resources, URI aliases and snapshot compilation."""

from __future__ import annotations

import pytest

from tsunagu.validation.aliases import UriAliases, contains, equal
from tsunagu.validation.model import compile_snapshot
from tsunagu.validation.packages import PACKAGE_FILES, PackageIndex, iter_examples
from tsunagu.validation.registry import Registry


@pytest.fixture(scope="module")
def index() -> PackageIndex:
    return PackageIndex.load_default()


def test_load_default_is_cached(index: PackageIndex) -> None:
    assert PackageIndex.load_default() is index


def test_get_by_url_and_version(index: PackageIndex) -> None:
    url = "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Patient_eCS"
    found = index.get(url)
    assert found is not None
    assert found["resourceType"] == "StructureDefinition"
    assert index.get(url + "|1") is found  # JP-CLINS refers to its profiles as `url|1`
    assert index.get("http://example.org/none") is None
    assert index.source_of(url) == "jp-clins.r4-1.5.2-snap.tgz"


def test_r4_core_and_terminology_are_served(index: PackageIndex) -> None:
    patient = index.structure_definition("http://hl7.org/fhir/StructureDefinition/Patient")
    assert patient is not None
    assert patient["snapshot"]["element"][0]["path"] == "Patient"
    gender = index.get("http://hl7.org/fhir/ValueSet/administrative-gender")
    assert gender is not None
    assert gender["resourceType"] == "ValueSet"
    assert index.get("http://hl7.org/fhir/administrative-gender") is not None  # CodeSystem


@pytest.mark.parametrize(
    ("kind", "minimum"),
    [("StructureDefinition", 700), ("ValueSet", 1300), ("CodeSystem", 1000), ("NamingSystem", 40)],
)
def test_by_type(index: PackageIndex, kind: str, minimum: int) -> None:
    found = list(index.by_type(kind))
    assert len(found) >= minimum
    assert all(r["resourceType"] == kind for r in found)


def test_core_package_holds_no_jp_drafts(index: PackageIndex) -> None:
    # The core package copy also carries JP drafts without snapshots: they are left out.
    jp = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
    assert index.source_of(jp) == "jp-core.r4-1.1.2.tgz"
    definition = index.structure_definition(jp)
    assert definition is not None
    assert definition["snapshot"]["element"]


def test_package_precedence() -> None:
    first = PackageIndex.load(("jp-eReferral.r4.tgz", *PACKAGE_FILES))
    url = "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Condition_eCS"
    assert first.source_of(url) == "jp-eReferral.r4.tgz"


def test_examples_are_not_conformance_resources() -> None:
    examples = list(iter_examples("jp-core.r4-1.1.2.tgz"))
    assert len(examples) >= 40
    assert {e.resource["resourceType"] for e in examples} >= {"Patient", "Observation"}


def test_jp_uri_aliases() -> None:
    aliases = UriAliases.load_default()
    hot9 = "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT9_CS"
    assert aliases.same(hot9, "urn:oid:1.2.392.200119.4.403.1")
    assert aliases.same(hot9, "http://medis.or.jp/CodeSystem/master-HOT9")
    assert aliases.same(
        "urn:oid:1.2.392.100495.20.3.23",
        "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicalOrganizationID",
    )
    assert not aliases.same(hot9, "http://example.org/other")
    assert "urn:oid:1.2.392.200119.4.403.1" in aliases.equivalents(hot9)


def test_pattern_and_fixed_comparison() -> None:
    aliases = UriAliases([["urn:oid:1.2.3", "http://example.org/cs"]])
    value = {"coding": [{"system": "urn:oid:1.2.3", "code": "a", "display": "A"}], "text": "t"}
    assert contains(value, {"coding": [{"system": "http://example.org/cs", "code": "a"}]}, aliases)
    assert not contains(value, {"coding": [{"code": "b"}]}, aliases)
    assert equal("urn:oid:1.2.3", "http://example.org/cs", aliases)
    assert not equal({"a": 1}, {"a": 1, "b": 2}, aliases)


def test_snapshot_compiles_to_a_tree(index: PackageIndex) -> None:
    definition = index.structure_definition(
        "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS"
    )
    assert definition is not None
    root = compile_snapshot(definition["snapshot"]["element"])
    assert root.path == "Observation"
    category = root.children["category"]
    assert category.slicing is not None
    assert [s.slice_name for s in category.slices] == ["laboratory"]
    assert category.slices[0].min == 1
    value = root.children["value[x]"]
    assert value.is_choice
    assert "valueQuantity" in value.json_names()


def test_registry_compiles_once(index: PackageIndex) -> None:
    registry = Registry(index)
    first = registry.profile("http://hl7.org/fhir/StructureDefinition/Patient")
    assert first is not None
    assert registry.profile("http://hl7.org/fhir/StructureDefinition/Patient|4.0.1") is first
    assert "Patient" in registry.resource_types()
    assert "DomainResource" not in registry.resource_types()
