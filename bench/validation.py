"""The validation suite: how fast resources validate, and what validation adds to a write.

* throughput: `Validator.validate` on typical clinical resources under their JP-CLINS
  profiles (Patient, Condition, Observation, MedicationRequest), one after another on one
  thread (so the rate is per core), after one warm-up pass that compiles the profiles;
* write overhead: in-process transaction ingest (`router.dispatch`, SQLite in the work dir) of
  Bundles of the same resources with validation on and off. Bundles alternate between the two
  modes so both see the same database size; the ratio is rate(on) / rate(off).

Every generated resource is valid (checked before timing), so the figures are for the
accepted path, which is the common one.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.measure import Run, cpu_meter, quiet_gc
from bench.workloads import BenchError
from tsunagu.bootstrap import build_platform, build_validator
from tsunagu.identity.synthetic.clinical import condition_status, disease_code, lab_category
from tsunagu.interactions.context import Context, FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings
from tsunagu.validation import ResourceValidator

Json = dict[str, Any]
TARGET_PER_CORE = 2000.0  # resources per second per core (issue 4)
BASE_URL = "http://bench.invalid/fhir"

ECS = "http://jpfhir.jp/fhir/eCS/StructureDefinition"
INDICATION = "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication"
RESOURCE_ID = "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier"
MEMBER_ID = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
INSTITUTION = "http://jpfhir.jp/fhir/clins/Extension/StructureDefinition/JP_eCS_InstitutionNumber"
DEPARTMENT = "http://jpfhir.jp/fhir/eCS/Extension/StructureDefinition/JP_eCS_Department"
NAME_FORM = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
UCUM = "http://unitsofmeasure.org"
MERIT9 = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUnitMERIT9Code"
CORE_LABO = "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS"
LABS = (
    ("3A015000001827101", "ALB", 3.5, 5.2, "g/dL"),
    ("3B070000002327101", "ALP", 38, 113, "U/L"),
)
DISEASES = (("20057110", "高血圧症"), ("20060972", "2型糖尿病"), ("20061419", "脂質異常症"))
DRUGS = (("2149039F1020", "アムロジピン錠5mg"), ("3969010F1020", "メトホルミン錠250mg"))
SURNAMES = (("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"))
GIVEN = (("一郎", "イチロウ"), ("花子", "ハナコ"), ("健", "ケン"), ("美咲", "ミサキ"))


# --- resources ------------------------------------------------------------------------


def _meta(profile: str, tagged: bool = True) -> Json:
    meta: Json = {"lastUpdated": "2024-04-01T09:00:00+09:00", "profile": [f"{ECS}/{profile}"]}
    if tagged:
        meta["tag"] = [{"system": INDICATION, "code": "LTS"}]
    return meta


def _common(rng: random.Random, kind: str) -> Json:
    return {
        "identifier": [
            {"system": RESOURCE_ID, "value": f"1311234567-{kind}-{rng.randrange(10**8)}"}
        ],
        "subject": {"identifier": {"system": MEMBER_ID, "value": _member(rng)}},
    }


def _member(rng: random.Random) -> str:
    insurer, symbol, number = rng.randrange(10**8), rng.randrange(10**4), rng.randrange(10**5)
    return f"{insurer:08d}:{symbol}:{number}:0{rng.randrange(10)}"


def _extensions(department: bool = True) -> list[Json]:
    institution = {
        "url": INSTITUTION,
        "valueIdentifier": {
            "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no",
            "value": "1311234567",
        },
    }
    dept = {
        "url": DEPARTMENT,
        "valueCodeableConcept": {
            "coding": [
                {
                    "system": "http://jami.jp/SS-MIX2/CodeSystem/ClinicalDepartment",
                    "code": "01",
                    "display": "内科",
                }
            ]
        },
    }
    return [institution, dept] if department else [institution]


def _encounter() -> Json:
    return {
        "resourceType": "Encounter",
        "id": "enc",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "外来",
        },
    }


def _day(rng: random.Random) -> str:
    return f"20{rng.randint(20, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def patient(rng: random.Random) -> Json:
    (family, family_kana), (given, given_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
    return {
        "resourceType": "Patient",
        "meta": _meta("JP_Patient_eCS", tagged=False),
        "identifier": [
            {
                "system": "urn:oid:1.2.392.100495.20.3.51.11311234567",
                "value": str(rng.randrange(10**8)),
            },
            {"system": MEMBER_ID, "value": _member(rng)},
        ],
        "name": [
            {
                "extension": [{"url": NAME_FORM, "valueCode": "IDE"}],
                "text": f"{family} {given}",
                "family": family,
                "given": [given],
            },
            {
                "extension": [{"url": NAME_FORM, "valueCode": "SYL"}],
                "text": f"{family_kana} {given_kana}",
                "family": family_kana,
                "given": [given_kana],
            },
        ],
        "gender": rng.choice(("male", "female")),
        "birthDate": f"19{rng.randint(30, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "address": [{"text": "東京都千代田区千代田1-1", "postalCode": "100-0001"}],
    }


def condition(rng: random.Random) -> Json:
    code, name = rng.choice(DISEASES)
    return {
        "resourceType": "Condition",
        "meta": _meta("JP_Condition_eCS"),
        "contained": [_encounter()],
        "extension": _extensions(),
        **_common(rng, "cond"),
        **condition_status("encounter-diagnosis"),
        "code": disease_code(code, name),
        "encounter": {"reference": "#enc"},
        "onsetDateTime": _day(rng),
    }


def observation(rng: random.Random) -> Json:
    code, display, low, high, unit = rng.choice(LABS)
    return {
        "resourceType": "Observation",
        "meta": _meta("JP_Observation_LabResult_eCS"),
        "contained": [
            _encounter(),
            {"resourceType": "Specimen", "id": "sp", "type": {"text": "血清"}},
        ],
        "extension": _extensions(),
        **_common(rng, "obs"),
        "status": "final",
        "category": lab_category(),
        "code": {
            "coding": [{"system": CORE_LABO, "code": code, "display": display}],
            "text": display,
        },
        "encounter": {"reference": "#enc"},
        "effectiveDateTime": f"{_day(rng)}T10:{rng.randint(10, 59)}:00+09:00",
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
        "specimen": {"reference": "#sp"},
    }


def medication_request(rng: random.Random) -> Json:
    code, name = rng.choice(DRUGS)
    days = rng.choice((7, 14, 28, 56))
    tablets = rng.choice((1, 2))
    return {
        "resourceType": "MedicationRequest",
        "meta": _meta("JP_MedicationRequest_eCS", tagged=False),
        "extension": _extensions(department=False),
        "identifier": [
            {
                "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber",
                "value": str(rng.randint(1, 5)),
            },
            {
                "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex",
                "value": "1",
            },
        ],
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code",
                    "code": code,
                    "display": name,
                }
            ],
            "text": name,
        },
        "subject": {"identifier": {"system": MEMBER_ID, "value": _member(rng)}},
        "authoredOn": f"{_day(rng)}T10:00:00+09:00",
        "dosageInstruction": [
            {
                "extension": [
                    {
                        "url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse",
                        "valuePeriod": {"start": _day(rng)},
                    }
                ],
                "text": f"1日1回朝食後 1回{tablets}錠",
                "timing": {
                    "repeat": {"frequency": 1, "period": 1, "periodUnit": "d"},
                    "code": {
                        "coding": [
                            {
                                "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUsage_ePrescription",
                                "code": "1013044400000000",
                                "display": "内服・経口・１日１回朝食後",
                            }
                        ],
                        "text": "1日1回朝食後",
                    },
                },
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationIngredientStrengthStrengthType",
                                    "code": "1",
                                    "display": "製剤量",
                                }
                            ]
                        },
                        "doseQuantity": {
                            "value": tablets,
                            "unit": "錠",
                            "system": MERIT9,
                            "code": "TAB",
                        },
                    }
                ],
            }
        ],
        "dispenseRequest": {
            "quantity": {"value": tablets * days, "unit": "錠", "system": MERIT9, "code": "TAB"},
            "expectedSupplyDuration": {"value": days, "unit": "日", "system": UCUM, "code": "d"},
        },
    }


MAKERS: dict[str, Callable[[random.Random], Json]] = {
    "Patient": patient,
    "Condition": condition,
    "Observation": observation,
    "MedicationRequest": medication_request,
}


# --- measurement ----------------------------------------------------------------------


@dataclass
class ValidationResult:
    """Throughput per type and the write overhead."""

    per_type: dict[str, Run]
    mixed: Run
    with_validation: Run
    without_validation: Run
    bundle_size: int
    seconds: float

    @property
    def overhead_ratio(self) -> float:
        off = self.without_validation.rate
        return self.with_validation.rate / off if off else 0.0

    def passed(self) -> bool:
        return self.mixed.rate >= TARGET_PER_CORE

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_type_per_second": {t: round(r.rate, 1) for t, r in self.per_type.items()},
            "mixed_per_second": round(self.mixed.rate, 1),
            "target_per_core": TARGET_PER_CORE,
            "ingest_with_validation_per_second": round(self.with_validation.rate, 1),
            "ingest_without_validation_per_second": round(self.without_validation.rate, 1),
            "write_rate_ratio_on_off": round(self.overhead_ratio, 3),
            "bundle_size": self.bundle_size,
            "seconds": round(self.seconds, 1),
        }


def samples(seed: int, count: int) -> dict[str, list[Json]]:
    rng = random.Random(seed)
    return {name: [make(rng) for _ in range(count)] for name, make in MAKERS.items()}


def check_valid(validator: ResourceValidator, resources: list[Json]) -> None:
    for resource in resources:
        errors = [i for i in validator.validate(resource) if i.severity in ("error", "fatal")]
        if errors:
            first = errors[0]
            raise BenchError(
                f"generated {resource['resourceType']} is invalid: {first.code} "
                f"{list(first.expression)} {first.message}"
            )


def throughput(validator: ResourceValidator, resources: list[Json]) -> Run:
    """Validate each resource once, sequentially; per-resource latencies in ms."""
    latencies: list[float] = []
    with quiet_gc(), cpu_meter() as cpu:
        for resource in resources:
            started = time.perf_counter()
            validator.validate(resource)
            latencies.append((time.perf_counter() - started) * 1000)
    return Run(len(resources), sum(latencies) / 1000, latencies, cpu)


def write_overhead(
    workdir: Path, resources: list[Json], bundle_size: int, rounds: int
) -> tuple[Run, Run]:
    """Transaction ingest with validation on and off (alternating), in-process, SQLite."""
    url = f"sqlite:///{workdir / 'validation.db'}"
    on = build_platform(Settings(database_url=url, insecure_dev=True, validation=True))
    off = build_platform(Settings(database_url=url, insecure_dev=True, validation=False))
    contexts: tuple[Context, Context] = (on.context(BASE_URL), off.context(BASE_URL))
    latencies: tuple[list[float], list[float]] = ([], [])
    cursor = 0
    try:
        with quiet_gc(), cpu_meter() as cpu:
            for round_number in range(rounds + 1):  # round 0 warms up
                order = (0, 1) if round_number % 2 == 0 else (1, 0)
                for mode in order:
                    chunk = [resources[(cursor + i) % len(resources)] for i in range(bundle_size)]
                    cursor += bundle_size
                    body = _transaction(chunk)
                    started = time.perf_counter()
                    response = dispatch(contexts[mode], FhirRequest("POST", "", body=body))
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status != 200:
                        raise BenchError(
                            f"ingest: {response.status} {str(response.resource)[:300]}"
                        )
                    if round_number:
                        latencies[mode].append(elapsed)
    finally:
        on.close()
        off.close()
    made = tuple(Run(bundle_size * len(v), sum(v) / 1000, v, cpu) for v in latencies)
    return made[0], made[1]


def _transaction(resources: list[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
            for resource in resources
        ],
    }


def run(workdir: Path, *, quick: bool, seed: int, console: Console) -> ValidationResult:
    began = time.perf_counter()
    console.rule("[bold]validation")
    per_type_count = 150 if quick else 1000
    validator = build_validator(Settings(validation=True))
    if validator is None:
        raise BenchError("validation is off")
    made = samples(seed, per_type_count)
    for resources in made.values():
        check_valid(validator, resources[:20])  # also compiles every profile once
    per_type = {name: throughput(validator, resources) for name, resources in made.items()}
    for name, result in per_type.items():
        console.print(
            f"  {name}: {result.rate:,.0f}/s (p50 {result.percentile(0.5):.2f} ms, "
            f"p99 {result.percentile(0.99):.2f} ms)"
        )
    mixed_resources = [r for group in zip(*made.values(), strict=True) for r in group]
    mixed = throughput(validator, mixed_resources)
    console.print(f"  mixed: {mixed.rate:,.0f}/s")
    bundle_size = 20 if quick else 100
    rounds = 4 if quick else 10
    with_validation, without = write_overhead(workdir, mixed_resources, bundle_size, rounds)
    console.print(
        f"  in-process transaction ingest: {with_validation.rate:,.0f}/s with validation, "
        f"{without.rate:,.0f}/s without"
    )
    return ValidationResult(
        per_type, mixed, with_validation, without, bundle_size, time.perf_counter() - began
    )


def render(console: Console, result: ValidationResult) -> None:
    table = Table(title="validation (one core, JP-CLINS profiles)")
    table.add_column("workload")
    table.add_column("resources/s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, item in [*result.per_type.items(), ("mixed (4 types)", result.mixed)]:
        table.add_row(
            name,
            f"{item.rate:,.0f}",
            f"{item.percentile(0.5):.2f}",
            f"{item.percentile(0.99):.2f}",
        )
    table.add_row(
        f"ingest, validation on ({result.bundle_size}/Bundle)",
        f"{result.with_validation.rate:,.0f}",
        "",
        "",
    )
    table.add_row("ingest, validation off", f"{result.without_validation.rate:,.0f}", "", "")
    table.add_row("write rate on / off", f"{result.overhead_ratio:.2f}", "", "")
    console.print(table)
    verdict = "[green]PASS[/]" if result.passed() else "[red]MISS[/]"
    console.print(
        f"  validation: {verdict} >= {TARGET_PER_CORE:,.0f} resources/s per core "
        f"({result.mixed.rate:,.0f}/s mixed)"
    )
