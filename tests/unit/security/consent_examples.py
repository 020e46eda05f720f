"""Consent resources as the sharing-consent contract describes them, for tests."""

from __future__ import annotations

from typing import Any

from tsunagu.security.consent import CATEGORY_SYSTEM, FACILITY_ID_SYSTEM


def sharing_consent(
    patient: str,
    facility: str,
    categories: list[str],
    *,
    status: str = "active",
    start: str = "2020-04-01",
    end: str | None = None,
) -> dict[str, Any]:
    period = {"start": start} | ({"end": end} if end else {})
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": start,
        "policy": [{"uri": "http://tsunagu.jp/fhir/policy/information-sharing"}],  # ppc-1
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {"identifier": {"system": FACILITY_ID_SYSTEM, "value": facility}},
                }
            ],
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": c}]} for c in categories],
        },
    }
