"""Acceptance: the published examples validate, the intentional error examples do not.

- every example instance shipped in the vendored JP Core 1.1.2 and JP-CLINS 1.5.2 packages
  (and those of the document IG packages, against their own definitions first);
- every file of `clinical-core/ExampleJson/` (JP-CLINS 1.5.2);
- every non-conformance example of `hl7.fhir.r4.examples` 4.0.1

validate with no error-level issue, except the documented exceptions below (each one is
explained in docs/validation.md). Files named `ErrorExample` must be rejected.

The shared material lives outside the repository, in `../shared/` next to the checkout (as
on CI); tests that need it are skipped with a reason when it is absent.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tsunagu.fhir.outcomes import Issue
from tsunagu.validation.packages import PACKAGE_FILES, PackageIndex, iter_examples
from tsunagu.validation.validator import Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT / ".." / "shared"
CLINS_EXAMPLES = SHARED / "jp-fhir" / "clinical-core" / "ExampleJson"
R4_EXAMPLES = SHARED / "fhir-r4" / "hl7.fhir.r4.examples-4.0.1.tgz"

# Conformance and terminology resources: loaded by other means, not checked as examples.
CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "SearchParameter",
        "ConceptMap",
        "OperationDefinition",
        "CapabilityStatement",
        "ImplementationGuide",
        "NamingSystem",
        "CompartmentDefinition",
        "StructureMap",
        "GraphDefinition",
        "MessageDefinition",
        "TerminologyCapabilities",
    }
)

# R4 examples that are themselves wrong per the specification (see docs/validation.md):
# file name -> the error expressions expected (a new or different error still fails).
R4_EXCEPTIONS: dict[str, set[str]] = {
    # DeviceMetric.parent may reference Device only; the example references DeviceDefinition.
    "DeviceMetric-example.json": {"DeviceMetric.parent.reference"},
    # DeviceUseStatement.reasonReference does not allow Procedure.
    "DeviceUseStatement-example.json": {"DeviceUseStatement.reasonReference[0].reference"},
    # MedicationRequest.dispenseRequest.performer may reference Organization only.
    "MedicationRequest-medrx0301.json": {"MedicationRequest.dispenseRequest.performer.reference"},
    # Observation.performer does not allow Encounter.
    "Observation-clinical-gender.json": {"Observation.performer[0].reference"},
    # Questionnaire.item.linkId is 1..1; 32 nested items of this example have none.
    "Questionnaire-qs1.json": set(),  # expressions checked by count below
}
R4_EXCEPTION_COUNTS = {"Questionnaire-qs1.json": ("required", 32)}

# ErrorExamples whose intended error cannot be detected from the published definitions.
UNDETECTABLE_ERROR_EXAMPLES: dict[str, str] = {
    "MedicationRequest-ErrorExample-JP-MedReq-PO-SID-28days.json": (
        "wrong 一般名処方コード: the MHLW code master is not in any package"
    ),
    "Observation-ErrorExample-ObsLabo-eGFR.json": (
        "no local lab code: localLaboCode is 0..1 in the JP-CLINS 1.5.2 snapshot"
    ),
}
EXPECTED_ERRORS: dict[str, tuple[str, str]] = {
    "MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json": (
        "invariant",
        "MedicationRequest",
    ),
}


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity in ("error", "fatal")]


def describe(issues: list[Issue]) -> str:
    return "\n".join(f"{i.code} {i.expression} {i.message}" for i in issues)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


# ---- vendored package examples


def package_examples() -> Iterator[Any]:
    for filename in PACKAGE_FILES:
        for item in iter_examples(filename):
            yield pytest.param(filename, item.filename, id=f"{filename}:{item.filename}")


@pytest.mark.parametrize(("package", "name"), list(package_examples()))
def test_package_example_is_valid(package: str, name: str) -> None:
    # Each package's examples are checked with its own definitions first.
    validator = _package_validator(package)
    resource = next(i.resource for i in iter_examples(package) if i.filename == name)
    found = errors(validator.validate(resource))
    assert found == [], describe(found)


_VALIDATORS: dict[str, Validator] = {}


def _package_validator(package: str) -> Validator:
    if package not in _VALIDATORS:
        _VALIDATORS[package] = Validator(PackageIndex.load((package, *PACKAGE_FILES)))
    return _VALIDATORS[package]


def test_jp_packages_have_examples() -> None:
    names = {i.filename for f in PACKAGE_FILES[:2] for i in iter_examples(f)}
    assert len(names) >= 50  # JP Core 1.1.2 ships about 50, JP-CLINS 2


# ---- JP-CLINS ExampleJson


def clins_files() -> list[Any]:
    if not CLINS_EXAMPLES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CLINS_EXAMPLES} absent"))]
    return [pytest.param(p, id=p.name) for p in sorted(CLINS_EXAMPLES.glob("*.json"))]


@pytest.mark.parametrize("path", clins_files())
def test_clins_example(validator: Validator, path: Path) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    found = errors(validator.validate(resource))
    if "ErrorExample" not in path.name:
        assert found == [], describe(found)
    elif path.name in UNDETECTABLE_ERROR_EXAMPLES:
        pytest.xfail(UNDETECTABLE_ERROR_EXAMPLES[path.name])
    else:
        code, expression = EXPECTED_ERRORS[path.name]
        assert [(i.code, i.expression) for i in found] == [(code, (expression,))], describe(found)


def test_clins_examples_are_present() -> None:
    if not CLINS_EXAMPLES.is_dir():
        pytest.skip(f"{CLINS_EXAMPLES} absent")
    assert len(list(CLINS_EXAMPLES.glob("*.json"))) >= 60


# ---- R4 examples


def r4_examples() -> Iterator[tuple[str, dict[str, Any]]]:
    with tarfile.open(R4_EXAMPLES, "r:gz") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.endswith(".json") or name == "package.json":
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            try:
                resource = json.loads(handle.read())
            except ValueError:
                continue
            if not isinstance(resource, dict) or "resourceType" not in resource:
                continue
            if resource["resourceType"] in CONFORMANCE_TYPES or definitions_bundle(resource):
                continue
            yield name, resource


def definitions_bundle(resource: dict[str, Any]) -> bool:
    """Bundles of definitions (profiles, value sets ...) are the spec, not examples."""
    entries = resource.get("entry") or []
    return (
        resource["resourceType"] == "Bundle"
        and bool(entries)
        and all((e.get("resource") or {}).get("resourceType") in CONFORMANCE_TYPES for e in entries)
    )


@pytest.mark.slow
@pytest.mark.skipif(not R4_EXAMPLES.is_file(), reason=f"{R4_EXAMPLES} absent")
def test_r4_examples_are_valid(validator: Validator) -> None:
    failures: dict[str, str] = {}
    seen: set[str] = set()
    count = 0
    for name, resource in r4_examples():
        count += 1
        found = errors(validator.validate(resource))
        expected = R4_EXCEPTIONS.get(name)
        if expected is not None:
            seen.add(name)
            if name in R4_EXCEPTION_COUNTS:
                code, number = R4_EXCEPTION_COUNTS[name]
                if [i.code for i in found] != [code] * number:
                    failures[name] = describe(found) or "no error any more"
            elif {e for i in found for e in i.expression} != expected or len(found) != 1:
                failures[name] = describe(found) or "no error any more: remove the exception"
        elif found:
            failures[name] = describe(found)
    assert count > 700  # 706 non-conformance examples in 4.0.1
    assert failures == {}
    assert seen == set(R4_EXCEPTIONS)
