"""Access facts the storage keeps beside each resource, and the grants it stores.

`describe` tells what access control needs about a resource: its class, owner facility and
the patient whose compartment it is in (from the Patient compartment's reference parameters,
evaluated with the search registry). Storage writes these as `resource_access` rows so that
search filters run inside SQL; interactions use the same function for single resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.params import reference
from tsunagu.security.policy import ResourceAccess
from tsunagu.security.resource_categories import classify, facility_of

PATIENT = "Patient"
SEVERAL = "*"  # a resource in several patients' compartments


@dataclass(frozen=True)
class AccessGrant:
    """`facility` (or only `subject` there) may see `category` of `patient` in [start, end).

    `source` is `consent` (derived from a Consent, `source_key` its res_key) or
    `break-glass` (declared by `subject` with a `reason`)."""

    source: str
    patient: str
    facility: str
    category: str
    start: datetime
    end: datetime | None
    subject: str | None = None
    reason: str | None = None
    source_key: int | None = None


def compartment_params(registry: SearchRegistry, resource_type: str) -> tuple[str, ...]:
    """The reference parameters that put a resource of this type in a Patient compartment."""
    params = registry.definitions.compartment_params(PATIENT, resource_type)
    return tuple(p for p in params if p != "{def}")


def describe(
    resource: Mapping[str, Any],
    registry: SearchRegistry,
    reference_rows: Iterable[tuple[Any, ...]] | None = None,
) -> ResourceAccess:
    """The access facts of a resource. `reference_rows`: its `search_reference` index rows
    (param, grp, target_type, target_id, ...) when already computed, to reuse them."""
    resource_type = str(resource["resourceType"])
    in_compartment = resource_type == PATIENT or bool(
        registry.definitions.compartment_params(PATIENT, resource_type)
    )
    access_class = classify(resource, in_compartment)
    patient: str | None = None
    if resource_type == PATIENT:
        patient = str(resource.get("id", ""))
    elif in_compartment:
        patient = _single(_patients(resource, registry, resource_type, reference_rows))
    return ResourceAccess(resource_type, access_class, facility_of(resource), patient)


def _patients(
    resource: Mapping[str, Any],
    registry: SearchRegistry,
    resource_type: str,
    rows: Iterable[tuple[Any, ...]] | None,
) -> set[str]:
    params = compartment_params(registry, resource_type)
    if rows is not None:  # an alias's rows are its sources' (`search.aliases`)
        stored = registry.row_codes(resource_type, params, PATIENT)
        return {str(r[3]) for r in rows if r[0] in stored and r[2] == PATIENT and r[3]}
    found: set[str] = set()
    for code in params:
        param = registry.get(resource_type, code)
        if param is None or param.extractor is None:
            continue
        for row in reference.rows(param.extractor(dict(resource))):
            if row[0] == PATIENT and row[1]:
                found.add(row[1])
    return found


def _single(patients: set[str]) -> str:
    if not patients:
        return ""
    if len(patients) > 1:
        return SEVERAL
    return next(iter(patients))
