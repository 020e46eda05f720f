"""Coverage/$import-roster: import an insurer's roster, all or nothing.

Input (Parameters): `csv` (valueString: the file's text), or `csvBase64` (valueBase64Binary:
the file's bytes, UTF-8 or Shift_JIS) with `encoding` (auto | utf-8 | cp932), or `bundle`
(a `collection` or `transaction` Bundle of Patient and Coverage resources). The CSV layout
is in identity/roster.py and docs/identity-eligibility.md.

Every row (or entry) is checked first; when any has an error the answer is 422 with one issue
per error (row and column, never the value) and nothing is written. Otherwise every person is
written in ONE transaction, with conditional-update semantics: the Patient found by `person_id`
(else the JP-CLINS member identifier) and the Coverage found by the member identifier are
updated, or created; importing the same roster again only adds versions. The answer is a
Parameters with `rows`, `created` and `updated`. Administrators and systems only.

`import_rows` is shared with `tsunagu roster import`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from tsunagu.fhir.outcomes import FhirError, Issue, bad_request
from tsunagu.fhir.resources import new_id
from tsunagu.identity.coverage import coverage_issues
from tsunagu.identity.insurance import MEMBER_ID_SYSTEM, IdentifierError, parse_member_id
from tsunagu.identity.roster import (
    RosterFileError,
    RosterRow,
    RowError,
    parse_roster,
)
from tsunagu.interactions import conditional
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.operations import validate
from tsunagu.interactions.operations.eligibility import parameters
from tsunagu.search import query as search_query
from tsunagu.security.audit import AuditRecord
from tsunagu.security.principal import Role
from tsunagu.storage.repository import StoredResource, WriteSession

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-coverage-import-roster",
    "url": "http://tsunagu.jp/fhir/OperationDefinition/Coverage-import-roster",
    "name": "import-roster",
    "title": "保険者の被保険者台帳の取込 / import an insurer roster",
    "status": "active",
    "kind": "operation",
    "code": "import-roster",
    "resource": ["Coverage"],
    "system": False,
    "type": True,
    "instance": False,
    "parameter": [
        {"name": "csv", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "csvBase64", "use": "in", "min": 0, "max": "1", "type": "base64Binary"},
        {"name": "encoding", "use": "in", "min": 0, "max": "1", "type": "code"},
        {"name": "bundle", "use": "in", "min": 0, "max": "1", "type": "Bundle"},
        {"name": "rows", "use": "out", "min": 1, "max": "1", "type": "integer"},
        {"name": "created", "use": "out", "min": 1, "max": "1", "type": "integer"},
        {"name": "updated", "use": "out", "min": 1, "max": "1", "type": "integer"},
    ],
}
ALLOWED_ROLES = frozenset({Role.ADMINISTRATOR, Role.SYSTEM})
MAX_REPORTED = 1000  # row errors listed in one OperationOutcome
CHUNK = 200  # rows looked up together


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    created: int
    updated: int


def import_roster(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """POST Coverage/$import-roster."""
    if resource_type != "Coverage":
        raise bad_request(
            "$import-roster は Coverage に対する操作です / $import-roster is an operation on "
            "Coverage",
            code="not-supported",
        )
    principal = ctx.principal
    if principal is not None and principal.role not in ALLOWED_ROLES:
        raise FhirError.of(
            403,
            "forbidden",
            "台帳の取込は管理者とシステムのみ行えます / "
            "only administrators and systems may import rosters",
        )
    if ctx.session is not None:
        raise bad_request(
            "$import-roster はトランザクション内では実行できません / "
            "$import-roster cannot run inside a transaction Bundle",
            code="not-supported",
        )
    params = parameters(req.body)
    if "bundle" in params:
        summary = import_bundle(ctx, params["bundle"])
    else:
        summary = import_rows(ctx, _rows(params))
    ctx.audit.append(
        AuditRecord(
            action="C",
            subtype="$import-roster",
            outcome=200,
            detail=f"rows={summary.rows} created={summary.created} updated={summary.updated}",
            resource_type="Coverage",
        )
    )
    return FhirResponse(
        200,
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "rows", "valueInteger": summary.rows},
                {"name": "created", "valueInteger": summary.created},
                {"name": "updated", "valueInteger": summary.updated},
            ],
        },
    )


def _rows(params: dict[str, Any]) -> list[RosterRow]:
    text, encoded = params.get("csv"), params.get("csvBase64")
    encoding = params.get("encoding") or "auto"
    if isinstance(text, str):
        data = text.encode("utf-8")
        encoding = "utf-8"
    elif isinstance(encoded, str):
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(
                "csvBase64 が Base64 ではありません / csvBase64 is not valid Base64",
                expression=("Parameters.csvBase64",),
            ) from None
    else:
        raise bad_request(
            "csv, csvBase64 または bundle が必要です / csv, csvBase64 or bundle is required",
            code="required",
        )
    try:
        roster = parse_roster(data, str(encoding))
    except RosterFileError as error:
        raise FhirError.of(422, "invalid", str(error)) from None
    if roster.errors:
        raise row_errors(roster.errors)
    return roster.rows


def row_errors(errors: list[RowError]) -> FhirError:
    """422 listing every row error (the first MAX_REPORTED, then how many more)."""
    issues = [
        Issue("invalid", f"{e.row} 行目 {e.column}: {e.message}") for e in errors[:MAX_REPORTED]
    ]
    if len(errors) > MAX_REPORTED:
        more = len(errors) - MAX_REPORTED
        issues.append(
            Issue("too-costly", f"ほか {more} 件のエラー / {more} more errors not listed")
        )
    issues.insert(
        0,
        Issue(
            "processing",
            f"台帳に {len(errors)} 件のエラーがあり、何も取り込んでいません / "
            f"the roster has {len(errors)} errors; nothing was imported",
        ),
    )
    return FhirError(422, issues)


def import_rows(
    ctx: Context, rows: list[RosterRow], progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Write every row's Patient and Coverage in one transaction (the server acts: access was
    checked by the caller), each validated as any write is. Per chunk of rows, the existing
    Patients and Coverages are looked up first in two searches, then the versions are saved
    in one batch; a key that matches several resources fails the import (412), as a
    conditional update would. `progress(n)` is called after each row."""
    created = updated = 0
    with ctx.repository.session() as session:
        patients: dict[str, StoredResource] = {}
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            patients.update(
                _existing(ctx, session, "Patient", [r.patient_identifier for r in chunk])
            )
            coverages = _existing(ctx, session, "Coverage", [r.member.identifier() for r in chunk])
            for row in chunk:
                key = _key(row.patient_identifier)
                patient = _save(ctx, session, "Patient", row.patient, patients.get(key))
                patients[key] = patient
                current = coverages.get(_key(row.member.identifier()))
                body = row.coverage_resource(f"Patient/{patient.id}")
                _save(ctx, session, "Coverage", body, current)
                created += current is None
                updated += current is not None
                if progress is not None:
                    progress(1)
    return ImportSummary(len(rows), created, updated)


def _key(identifier: dict[str, str]) -> str:
    return f"{identifier['system']}|{identifier['value']}"


def _existing(
    ctx: Context, session: WriteSession, resource_type: str, identifiers: list[dict[str, str]]
) -> dict[str, StoredResource]:
    """The current resource per identifier (`system|value`), found in one search."""
    wanted = {_key(i) for i in identifiers}
    if not wanted:
        return {}
    value = ",".join(sorted(k.replace("\\", "\\\\").replace(",", "\\,") for k in wanted))
    query = search_query.parse(ctx.registry, [resource_type], [("identifier", value)])
    found: dict[str, StoredResource] = {}
    for match in session.search(replace(query, count=2 * len(wanted) + 1)):
        content = match.resource.content or {}
        for identifier in content.get("identifier") or []:
            if not isinstance(identifier, dict):
                continue
            key = f"{identifier.get('system')}|{identifier.get('value')}"
            if key not in wanted:
                continue
            if key in found and found[key].id != match.resource.id:
                raise conditional.several(resource_type)
            found[key] = match.resource
    return found


def _save(
    ctx: Context,
    session: WriteSession,
    resource_type: str,
    body: dict[str, Any],
    current: StoredResource | None,
) -> StoredResource:
    id = current.id if current is not None else new_id()
    resource = {**body, "id": id}
    validate.enforce(ctx, resource)
    return session.save(resource_type, id, resource, method="PUT", previous=current)


# --- FHIR Bundles -------------------------------------------------------------------------


def import_bundle(ctx: Context, bundle: Any) -> ImportSummary:
    """A collection or transaction Bundle of Patients and Coverages: every Coverage is checked
    (coverage_issues), every Patient's member identifier too; then one transaction."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request(
            "bundle は Bundle リソースです / bundle must be a Bundle resource",
            expression=("Parameters.bundle",),
        )
    if bundle.get("type") not in ("collection", "transaction"):
        raise bad_request(
            "bundle の type は collection か transaction です / "
            "the bundle must be a collection or a transaction",
            expression=("Bundle.type",),
        )
    issues: list[Issue] = []
    entries: list[dict[str, Any]] = []
    coverages = 0
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"Bundle.entry[{index}].resource"
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource, dict) or kind not in ("Patient", "Coverage"):
            issues.append(
                Issue(
                    "invalid",
                    "台帳の Bundle には Patient と Coverage だけを入れます / "
                    "a roster bundle holds only Patient and Coverage resources",
                    expression=(where,),
                )
            )
            continue
        issues.extend(_entry_issues(resource, where))
        coverages += kind == "Coverage"
        entries.append(_transaction_entry(entry, resource))
    if issues:
        raise FhirError(422, issues)
    from tsunagu.interactions import bundle as bundles
    from tsunagu.interactions.router import dispatch

    server = replace(ctx, principal=None)
    request = FhirRequest(
        "POST", "", body={"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    response = bundles.process(server, request, dispatch)
    statuses = [
        str((e.get("response") or {}).get("status", ""))
        for e, source in zip((response.resource or {}).get("entry") or [], entries, strict=False)
        if (source.get("resource") or {}).get("resourceType") == "Coverage"
    ]
    created = sum(s.startswith("201") for s in statuses)
    return ImportSummary(coverages, created, coverages - created)


def _entry_issues(resource: dict[str, Any], where: str) -> list[Issue]:
    if resource["resourceType"] == "Coverage":
        return [
            replace(i, expression=tuple(e.replace("Coverage", where, 1) for e in i.expression))
            for i in coverage_issues(resource)
            if i.severity == "error"
        ]
    issues = []
    for index, identifier in enumerate(resource.get("identifier") or []):
        if isinstance(identifier, dict) and identifier.get("system") == MEMBER_ID_SYSTEM:
            try:
                parse_member_id(str(identifier.get("value", "")))
            except IdentifierError as error:
                expression = f"{where}.identifier[{index}].value"
                issues.append(Issue("value", error.message, expression=(expression,)))
    return issues


def _transaction_entry(entry: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """A transaction entry: kept when it has a request; else a conditional update on the
    member identifier when there is one, else a create."""
    if isinstance(entry.get("request"), dict):
        return entry
    kind = resource["resourceType"]
    member = next(
        (
            i.get("value")
            for i in resource.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == MEMBER_ID_SYSTEM
        ),
        None,
    )
    if isinstance(member, str):
        url = f"{kind}?identifier=" + quote(f"{MEMBER_ID_SYSTEM}|{member}", safe="")
        request = {"method": "PUT", "url": url}
    else:
        request = {"method": "POST", "url": kind}
    out = {"resource": resource, "request": request}
    if isinstance(entry.get("fullUrl"), str):
        out["fullUrl"] = entry["fullUrl"]
    return out
