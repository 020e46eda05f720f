"""A patient's sharing consent (a FHIR `Consent`) as the access grants it gives (pure).

The representation is the shared contract in docs/security.md: only an `active` Consent with
`provision.type = permit` grants anything; it grants the facility named by the IRCP actor
(by 医療機関コード / 薬局コード) the categories listed in `provision.code`, within
`provision.period` (start required, end optional). A Consent with no category codes grants
nothing. Dates without a time are whole days in Japan time (`fhir.datatypes.JAPAN`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tsunagu.fhir.datatypes import parse_period
from tsunagu.security.categories import Category

CATEGORY_SYSTEM = "http://tsunagu.jp/fhir/CodeSystem/information-category"
FACILITY_ID_SYSTEM = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
RECIPIENT_ROLE = ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")


@dataclass(frozen=True)
class ConsentGrant:
    """`facility` may see `category` of `patient`'s data held by others in [start, end)."""

    patient: str
    facility: str
    category: Category
    start: datetime
    end: datetime | None


def grants_of(consent: Mapping[str, Any]) -> list[ConsentGrant]:
    """The grants a Consent gives now-or-ever (its period decides when); [] if none."""
    if consent.get("resourceType") != "Consent" or consent.get("status") != "active":
        return []
    patient = _patient_id(consent.get("patient"))
    provision = consent.get("provision")
    if patient is None or not isinstance(provision, dict):
        return []
    if provision.get("type", "permit") != "permit":
        return []
    period = _period(provision.get("period"))
    if period is None:
        return []
    start, end = period
    facilities = _recipients(provision.get("actor"))
    categories = _categories(provision.get("code"))
    return [
        ConsentGrant(patient, facility, category, start, end)
        for facility in sorted(facilities)
        for category in sorted(categories)
    ]


def _patient_id(reference: Any) -> str | None:
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    kind, _, rest = text.rpartition("/")
    if not kind.endswith("Patient") or not rest:
        return None
    return rest


def _period(period: Any) -> tuple[datetime, datetime | None] | None:
    if not isinstance(period, dict) or not isinstance(period.get("start"), str):
        return None
    try:
        start = _bound(period["start"], upper=False)
        end = _bound(period["end"], upper=True) if isinstance(period.get("end"), str) else None
    except ValueError:
        return None
    if end is not None and end <= start:
        return None
    return start, end


def _bound(text: str, *, upper: bool) -> datetime:
    """Where a period's start (or end) value begins (ends): a date is its whole day in Japan
    time (`fhir.datatypes`)."""
    period = parse_period(text)
    return period.end if upper else period.start


def _recipients(actors: Any) -> set[str]:
    found: set[str] = set()
    for actor in actors if isinstance(actors, list) else []:
        if not isinstance(actor, dict) or not _is_recipient(actor.get("role")):
            continue
        reference = actor.get("reference")
        identifier = reference.get("identifier") if isinstance(reference, dict) else None
        if not isinstance(identifier, dict) or identifier.get("system") != FACILITY_ID_SYSTEM:
            continue
        value = identifier.get("value")
        if isinstance(value, str) and value:
            found.add(value)
    return found


def _is_recipient(role: Any) -> bool:
    codings = role.get("coding") if isinstance(role, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == RECIPIENT_ROLE for c in codings
    )


def _categories(concepts: Any) -> set[Category]:
    values = {c.value for c in Category}
    found: set[Category] = set()
    for concept in concepts if isinstance(concepts, list) else []:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            if (
                isinstance(coding, dict)
                and coding.get("system") == CATEGORY_SYSTEM
                and coding.get("code") in values
            ):
                found.add(Category(coding["code"]))
    return found


def widens(new: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """Whether `new` grants anything `current` (the version it replaces) did not: a grant
    for another patient, facility or category, or over a longer period. Only the patient
    may widen a consent; a facility may record its narrowing or withdrawal."""
    before = grants_of(current) if current is not None else []
    return any(not any(_covers(old, grant) for old in before) for grant in grants_of(new))


def _covers(old: ConsentGrant, new: ConsentGrant) -> bool:
    same = (old.patient, old.facility, old.category) == (new.patient, new.facility, new.category)
    ends_in_time = old.end is None or (new.end is not None and new.end <= old.end)
    return same and new.start >= old.start and ends_in_time
