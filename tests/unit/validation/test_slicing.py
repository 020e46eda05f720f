"""Slicing: discriminators, closed/ordered slicing and slice cardinality, on JP-CLINS."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.validation.test_validator import condition_ecs, errors
from tsunagu.validation.aliases import UriAliases, contains
from tsunagu.validation.model import Discriminator, Node, Slicing, TypeRef
from tsunagu.validation.packages import PackageIndex
from tsunagu.validation.registry import Registry
from tsunagu.validation.slicing import matchers, split_path, values_at
from tsunagu.validation.validator import Validator

ECS = "http://jpfhir.jp/fhir/eCS/StructureDefinition"
CLINS = "http://jpfhir.jp/fhir/clins/StructureDefinition"
PATIENT_ECS = f"{ECS}/JP_Patient_eCS"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def test_paths() -> None:
    assert split_path("$this") == ()
    assert split_path("extension('http://x/y.z').value") == ("extension('http://x/y.z')", "value")
    item = {"extension": [{"url": "http://x/y.z", "valueCode": "a"}], "coding": [{"code": "b"}]}
    assert values_at(item, split_path("extension('http://x/y.z').value")) == ["a"]
    assert values_at(item, ("coding", "code")) == ["b"]
    assert values_at(item, ("resolve()",)) is None
    pattern = {"coding": [{"code": "c"}]}
    assert contains({"coding": [{"system": "s", "code": "c"}]}, pattern, UriAliases())


def test_extension_slices_match_by_profile_url() -> None:
    registry = Registry(PackageIndex.load_default())
    profile = registry.profile(f"{ECS}/JP_Condition_eCS")
    assert profile is not None
    extension = profile.root.children["extension"]
    kinds = {m.kind for s in extension.slices for m in matchers(extension, s, registry)}
    assert kinds == {"fixed"}


def test_exists_and_type_discriminators() -> None:
    registry = Registry(PackageIndex.load_default())
    sliced = Node("X.item", "item", 0, 9, True, (TypeRef("BackboneElement"),))
    sliced.slicing = Slicing((Discriminator("exists", "flag"),), "closed", False)
    with_flag = Node("X.item", "item", 0, 9, True, (TypeRef("BackboneElement"),), "with")
    with_flag.children["flag"] = Node("X.item.flag", "flag", 1, 1, False, (TypeRef("boolean"),))
    sliced.slices.append(with_flag)
    found = matchers(sliced, with_flag, registry)
    assert [(m.kind, m.expected) for m in found] == [("exists", True)]


def clins_bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [f"{CLINS}/JP_Bundle_CLINS"]},
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:c757873d-ec9a-4326-a141-55600000000{i}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }


def test_closed_slicing_rejects_unmatched_entries(validator: Validator) -> None:
    bundle = clins_bundle({"resourceType": "Practitioner", "id": "x"})
    found = errors(validator.validate(bundle))
    assert ("structure", "Bundle.entry[0]") in found  # matches no slice (closed)
    assert ("required", "Bundle.entry") in found  # the patient slice is 1..1


def test_ordered_slicing(validator: Validator) -> None:
    patient = {"resourceType": "Patient", "meta": {"profile": [PATIENT_ECS]}}
    condition = condition_ecs()
    in_order = errors(validator.validate(clins_bundle(patient, condition)))
    reversed_ = errors(validator.validate(clins_bundle(condition, patient)))
    assert ("structure", "Bundle.entry") not in in_order
    assert ("structure", "Bundle.entry") in reversed_  # slices out of order


def test_slice_content_is_validated_with_the_slice_definition(validator: Validator) -> None:
    condition = condition_ecs()
    broken = copy.deepcopy(condition)
    broken["code"]["coding"][0]["display"] = 5
    assert errors(validator.validate(broken)) == [("value", "Condition.code.coding[0].display")]
