"""Patient/$match (IHE PDQm ITI-119): ranked candidates for a patient's demographics.

Input: a Parameters resource with `resource` (a Patient holding what is known: kanji and/or
kana name, birthDate, gender, address / postal code, telecom, identifiers), optionally
`onlyCertainMatches` (boolean) and `count` (integer, default 10, at most 100). `birthDate`
may also be written as people type it (`19750301`, `昭和50年3月1日`, `S50.3.1`).

Candidates come from indexed searches only (blocking), never a scan: the exact birthdate or
one a typing slip away; the full name (kana and kanji) with the birthdate's
month-day or year (`identity.blocking`: the namesakes who could still match), or, without a
birthdate or with only part of a name, the name alone in its variant and long-vowel
spellings; without a birthdate, the postal code with the given name; each identifier.
Low-selectivity criteria (sex) are left to the scoring, so that no blocking query
is driven by them. Each candidate is scored by `identity.matching` and returned in a searchset
Bundle, best first, with `search.score` and the PDQm match-grade extension; `certainly-not`
is never returned.
See: https://profiles.ihe.net/ITI/PDQm/ITI-119.html
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from tsunagu.fhir.bundles import bundle
from tsunagu.fhir.outcomes import bad_request
from tsunagu.fhir.parameters import is_parameters, named_parameters
from tsunagu.identity import blocking, dates, matching
from tsunagu.identity.matching import Person
from tsunagu.identity.names import kana_spellings, kanji_spellings
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.search import query as search_query
from tsunagu.storage.repository import Match

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "Patient-match",
    "url": "http://hl7.org/fhir/OperationDefinition/Patient-match",
    "name": "match",
    "status": "active",
    "kind": "operation",
    "code": "match",
    "resource": ["Patient"],
    "system": False,
    "type": True,
    "instance": False,
    "parameter": [
        {"name": "resource", "use": "in", "min": 1, "max": "1", "type": "Resource"},
        {"name": "onlyCertainMatches", "use": "in", "min": 0, "max": "1", "type": "boolean"},
        {"name": "count", "use": "in", "min": 0, "max": "1", "type": "integer"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle"},
    ],
}
DEFAULT_COUNT = 10
MAX_COUNT = 100
BLOCK_LIMIT = 500  # candidates per blocking query
MAX_IDENTIFIERS = 3


def match(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """POST Patient/$match."""
    if resource_type != "Patient":
        raise bad_request(
            f"$match は Patient にのみ使えます / $match is defined on Patient only, "
            f"not on {resource_type}",
            code="not-supported",
        )
    access.check_type(ctx, "Patient", "s")
    patient, only_certain, count = _inputs(req.body)
    query = matching.person_from_patient(_lenient_birthdate(patient))
    if not (_has_name(query) or query.birthdate or query.identifiers):
        raise bad_request(
            "照合には氏名、生年月日または識別子のいずれかが必要です / "
            "$match needs at least a name, a birthDate or an identifier",
            expression=("Parameters.parameter.resource",),
        )
    found = candidates(ctx, query)
    ranked = []
    for stored in found.values():
        result = matching.score(query, matching.person_from_patient(stored.content or {}))
        if result.grade == "certainly-not" or (only_certain and result.grade != "certain"):
            continue
        ranked.append((result, stored))
    ranked.sort(key=lambda pair: (-pair[0].score, pair[1].id))
    entries = [
        {
            "fullUrl": ctx.url(f"Patient/{stored.id}"),
            "resource": stored.content,
            "search": {
                "extension": [matching.grade_extension(result.grade)],
                "mode": "match",
                "score": result.score,
            },
        }
        for result, stored in ranked[:count]
    ]
    return FhirResponse(200, bundle("searchset", entries, total=len(entries)))


def _inputs(body: Any) -> tuple[dict[str, Any], bool, int]:
    if not is_parameters(body):
        raise bad_request(
            "$match の本文は Parameters リソースです / the body of $match must be a Parameters "
            "resource",
        )
    patient: dict[str, Any] | None = None
    only_certain = False
    count = DEFAULT_COUNT
    for name, parameter in named_parameters(body):
        if name == "resource":
            resource = parameter.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
                raise bad_request(
                    "パラメータ resource は Patient リソースです / parameter 'resource' must be "
                    "a Patient resource",
                    expression=("Parameters.parameter.resource",),
                )
            patient = resource
        elif name == "onlyCertainMatches":
            value = parameter.get("valueBoolean")
            if not isinstance(value, bool):
                raise bad_request(
                    "onlyCertainMatches は valueBoolean です / onlyCertainMatches must be a "
                    "valueBoolean",
                    expression=("Parameters.parameter.onlyCertainMatches",),
                )
            only_certain = value
        elif name == "count":
            value = parameter.get("valueInteger")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad_request(
                    "count は 1 以上の valueInteger です / count must be a valueInteger of at "
                    "least 1",
                    expression=("Parameters.parameter.count",),
                )
            count = min(value, MAX_COUNT)
    if patient is None:
        raise bad_request(
            "パラメータ resource (Patient) がありません / the 'resource' parameter (a Patient) "
            "is missing",
            expression=("Parameters.parameter",),
        )
    return patient, only_certain, count


def _lenient_birthdate(patient: dict[str, Any]) -> dict[str, Any]:
    """The Patient with `birthDate` read in any accepted form (ISO, 19750301, 和暦)."""
    raw = patient.get("birthDate")
    if raw is None:
        return patient
    if not isinstance(raw, str):
        raise bad_request(
            "birthDate は文字列です / birthDate must be a string", expression=("Patient.birthDate",)
        )
    try:
        parsed = dates.parse_birthdate(raw)
    except dates.BirthdateError as error:
        raise bad_request(str(error), expression=("Patient.birthDate",)) from None
    return {**patient, "birthDate": parsed.isoformat()}


def _has_name(p: Person) -> bool:
    return bool(p.family_kanji or p.given_kanji or p.family_kana or p.given_kana)


# --- candidate retrieval (blocking) -------------------------------------------------------------


def blocking_queries(query: Person, *, keyed: bool = True) -> list[list[tuple[str, str]]]:
    """The indexed searches whose union is the candidate set (see the module docstring).

    `keyed`: the registry has the `match-key` parameter (`identity.blocking`), so a full name
    is looked up with the birthdate's keys instead of by itself."""
    out: list[list[tuple[str, str]]] = []
    given = _spellings(query.given_kanji, query.given_kana)
    keys: list[str] = []
    if query.birthdate is not None:
        # A slip that lands in the future (1977 → 9177) names nobody: not searched.
        latest = date.today() + timedelta(days=1)
        slips = [day for day in dates.date_variants(query.birthdate) if day <= latest]
        if keyed:  # the slips only with a part of the name (`identity.blocking`)
            out.append([("birthdate", query.birthdate.isoformat())])
            keys = blocking.query_keys(query) + blocking.slip_keys(query, slips)
        else:  # one search; the dates OR-ed are one index range each (`plan.KeySet.arms`)
            days = [query.birthdate, *slips]
            out.append([("birthdate", ",".join(day.isoformat() for day in days))])
    if keys:
        out.append([(blocking.CODE, ",".join(keys))])
    # The scripts the keys do not cover: every spelling of the name, OR-ed (one prefix range
    # each on the string index).
    has_keys = bool(keys) and bool(blocking.query_keys(query))
    kana_keyed, kanji_keyed = blocking.has_full_name(query) if has_keys else (False, False)
    full = _spellings(
        "" if kanji_keyed else query.family_kanji + query.given_kanji,
        "" if kana_keyed else query.family_kana + query.given_kana,
    )
    if full:
        out.append([("name", ",".join(full))])
    postal = "".join(ch for ch in query.postal_code if ch.isdigit())
    if len(postal) == 7 and given and query.birthdate is None:  # else the dates cover it
        code = f"{postal[:3]}-{postal[3:]}"
        out.append([("address-postalcode", code), ("given", ",".join(given))])
    if query.identifiers:
        identifiers = [_escape(i) for i in query.identifiers[:MAX_IDENTIFIERS]]
        out.append([("identifier", ",".join(identifiers))])
    return out


def _spellings(kanji: str, kana: str) -> list[str]:
    """The forms to look a name up by (kanji variants, long-vowel spellings), escaped."""
    forms = (kanji_spellings(kanji) if kanji else []) + (kana_spellings(kana) if kana else [])
    return [_escape(form) for form in forms]


def _escape(identifier: str) -> str:
    return identifier.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$")


def candidates(ctx: Context, query: Person) -> dict[str, Any]:
    """The union of the blocking searches' results, by Patient id."""
    found: dict[str, Any] = {}
    source = ctx.session or ctx.repository
    keyed = ctx.registry.get("Patient", blocking.CODE) is not None
    for pairs in blocking_queries(query, keyed=keyed):
        parsed = search_query.parse(ctx.registry, ["Patient"], pairs)
        parsed = access.filter_query(ctx, replace(parsed, count=BLOCK_LIMIT))
        matches: list[Match] = source.search(parsed)
        for m in matches[:BLOCK_LIMIT]:
            if m.resource.content is not None:
                found.setdefault(m.resource.id, m.resource)
    return found
