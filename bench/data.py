"""Synthetic, JP Core-flavoured FHIR resources for the benchmark (deterministic per seed).

Patients carry an identifier (so the identifier index is exercised) and Observations refer to a
Patient, as real data does. A stored set is one Patient followed by four of its Observations.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

PATIENTS_PER_GROUP = 1
OBSERVATIONS_PER_PATIENT = 4
GROUP = PATIENTS_PER_GROUP + OBSERVATIONS_PER_PATIENT

_FAMILY = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
]
_GIVEN = [
    ("太郎", "タロウ", "male"),
    ("花子", "ハナコ", "female"),
    ("一郎", "イチロウ", "male"),
    ("美咲", "ミサキ", "female"),
    ("健太", "ケンタ", "male"),
    ("陽菜", "ヒナ", "female"),
]
_CITIES = [
    ("東京都", "新宿区", "160-0023"),
    ("大阪府", "大阪市北区", "530-0001"),
    ("愛知県", "名古屋市中区", "460-0008"),
    ("福岡県", "福岡市博多区", "812-0011"),
    ("北海道", "札幌市中央区", "060-0001"),
]
# (LOINC code, display, JLAC10-free unit, low, high)
_VITALS = [
    ("29463-7", "Body weight", "kg", 40.0, 95.0),
    ("8302-2", "Body height", "cm", 145.0, 190.0),
    ("8867-4", "Heart rate", "/min", 50.0, 110.0),
    ("8310-5", "Body temperature", "Cel", 35.5, 38.5),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 180.0),
]
_PATIENT_ID_SYSTEM = "urn:oid:1.2.392.100495.20.3.51.11311234567"
_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def new_id(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (what the server itself assigns, but reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def patient(rng: random.Random, number: int) -> dict[str, Any]:
    family, family_kana = rng.choice(_FAMILY)
    given, given_kana, gender = rng.choice(_GIVEN)
    prefecture, city, postal = rng.choice(_CITIES)
    born = f"{rng.randint(1935, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "resourceType": "Patient",
        "identifier": [{"system": _PATIENT_ID_SYSTEM, "value": f"{number:010d}"}],
        "active": True,
        "name": [
            {
                "extension": [{"url": _REPRESENTATION, "valueCode": "IDE"}],
                "use": "official",
                "text": f"{family} {given}",
                "family": family,
                "given": [given],
            },
            {
                "extension": [{"url": _REPRESENTATION, "valueCode": "SYL"}],
                "use": "official",
                "text": f"{family_kana} {given_kana}",
                "family": family_kana,
                "given": [given_kana],
            },
        ],
        "telecom": [
            {
                "system": "phone",
                "value": f"090-{number % 10000:04d}-{rng.randint(0, 9999):04d}",
                "use": "mobile",
            }
        ],
        "gender": gender,
        "birthDate": born,
        "address": [
            {
                "text": f"{prefecture}{city}1-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
                "state": prefecture,
                "city": city,
                "postalCode": postal,
                "country": "JP",
            }
        ],
    }


def observation(rng: random.Random, subject: str) -> dict[str, Any]:
    code, display, unit, low, high = rng.choice(_VITALS)
    when = datetime(2024, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def stored_form(resource: dict[str, Any], id: str, now: datetime) -> dict[str, Any]:
    """The resource as a server stores it (id and meta first): the raw baseline's payload."""
    body = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    return {
        "resourceType": resource["resourceType"],
        "id": id,
        "meta": {"versionId": "1", "lastUpdated": now.isoformat()},
        **body,
    }


def stored_set(
    rng: random.Random, count: int, start: int = 0
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """`count` resources (type, id, content) with server-style ids: Patients, Observations."""
    subject = ""
    for number in range(start, start + count):
        id = new_id(rng)
        if number % GROUP == 0:
            subject = f"Patient/{id}"
            yield "Patient", id, patient(rng, number)
        else:
            yield "Observation", id, observation(rng, subject or f"Patient/{new_id(rng)}")


def create_payloads(rng: random.Random, count: int, start: int) -> list[dict[str, Any]]:
    """Bodies for single-resource creates (no id: the server assigns one).

    Observations refer to Patients loaded earlier in the same list, so the mix matches the
    stored set; references are not resolved on create, so no ordering is needed.
    """
    return [content for _type, _id, content in stored_set(rng, count, start)]


def transaction_bundle(
    rng: random.Random, size: int, start: int
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """A transaction Bundle of `size` POST entries that refer to each other by urn:uuid.

    Returns the Bundle and, for the raw baseline, the same resources as (id, content) with the
    references already pointing at the ids the raw rows get.
    """
    entries: list[dict[str, Any]] = []
    raw: list[tuple[str, dict[str, Any]]] = []
    now = datetime.now(UTC)
    placeholder = real = ""
    for number in range(start, start + size):
        full_url = f"urn:uuid:{new_id(rng)}"
        id = new_id(rng)
        if number % GROUP == 0 or not placeholder:
            resource = patient(rng, number)
            placeholder, real = full_url, f"Patient/{id}"
            raw_resource = resource
        else:
            resource = observation(rng, placeholder)
            raw_resource = {**resource, "subject": {"reference": real}}
        entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        raw.append((id, stored_form(raw_resource, id, now)))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, raw
