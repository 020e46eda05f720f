"""Search criteria of conditional interactions (`If-None-Exist`, `PUT Patient?...`).

Until the search engine lands, the criteria Tsunagu resolves are `_id` and `identifier`
(token: `system|value`, `|value`, `system|`, `value`), the ones conditional writes use in
practice. Anything else is refused with 400 rather than silently ignored: ignoring a
criterion would make a conditional write act on the wrong resource.
See: https://hl7.org/fhir/R4/http.html#ccreate
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from tsunagu.fhir.outcomes import FhirError, bad_request, precondition_failed
from tsunagu.storage.repository import IdentifierCriterion, StoredResource, WriteSession

SUPPORTED = ("_id", "identifier")


def parse_criteria(
    resource_type: str, query: str | tuple[tuple[str, str], ...]
) -> tuple[list[str], list[IdentifierCriterion]]:
    """Criteria from a query string or parsed query pairs; 400 when empty or unsupported."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    if not pairs:
        raise bad_request(
            "条件付き操作に検索条件がありません / a conditional interaction needs search criteria"
        )
    ids: list[str] = []
    identifiers: list[IdentifierCriterion] = []
    for name, value in pairs:
        if name == "_id":
            if ids:
                raise bad_request("_id は一度だけ指定できます / _id may be given only once")
            ids = [v for v in value.split(",") if v]
        elif name == "identifier":
            if "," in value:
                raise bad_request(
                    "条件付き操作の identifier に OR (,) は使えません / "
                    "identifier criteria of conditional interactions take a single value"
                )
            identifiers.append(_token(value))
        else:
            raise bad_request(
                f"条件付き操作の検索パラメータ '{name}' には対応していません (対応: "
                f"{', '.join(SUPPORTED)}) / search parameter '{name}' is not supported in "
                f"conditional interactions on {resource_type} (supported: {', '.join(SUPPORTED)})",
                code="not-supported",
            )
    return ids, identifiers


def _token(value: str) -> IdentifierCriterion:
    if "|" not in value:
        return IdentifierCriterion(None, value or None)
    system, _, code = value.partition("|")
    return IdentifierCriterion(system, code or None)


def match(
    session: WriteSession, resource_type: str, criteria: str | tuple[tuple[str, str], ...]
) -> list[StoredResource]:
    """Current resources matching the criteria, under a lock on the criteria themselves.

    The lock makes two concurrent conditional creates with the same criteria run one after
    the other, so the second sees the first's resource instead of creating a duplicate.
    """
    ids, identifiers = parse_criteria(resource_type, criteria)
    key = criteria if isinstance(criteria, str) else "&".join(f"{k}={v}" for k, v in criteria)
    session.lock(f"criteria:{resource_type}?{key}")
    return session.find(resource_type, ids=ids, identifiers=identifiers)


def several(resource_type: str, count: int) -> FhirError:
    return precondition_failed(
        f"条件に一致する {resource_type} が {count} 件あり、一つに特定できません / "
        f"the criteria match {count} {resource_type} resources; they must match at most one"
    )
