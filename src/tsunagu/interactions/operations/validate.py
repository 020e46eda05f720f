"""$validate, and the validation every write goes through before anything is stored.

`POST /{type}/$validate` and `POST /{type}/{id}/$validate` take the resource as the body, or
a Parameters resource with `resource`, `mode` (create | update | delete) and `profile`, and
answer 200 with an OperationOutcome listing every issue (an information issue when there is
none). Writes (create, update, patch, every Bundle entry) call `enforce`: any error-level
issue rejects the write with 422 and the full list; warnings never block.

`ProfilePolicy` wraps the configured validator with the server's required profiles per
resource type (setting `required_profiles`): such a resource must claim each of them in
`meta.profile` and conform to it.
See: https://hl7.org/fhir/R4/resource-operation-validate.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tsunagu.fhir.definitions import load_definitions
from tsunagu.fhir.outcomes import FhirError, Issue, bad_request, not_found, operation_outcome
from tsunagu.fhir.parameters import is_parameters, named_parameters
from tsunagu.fhir.references import relative_to, rewrite
from tsunagu.fhir.resources import is_valid_id, require_resource
from tsunagu.identity.coverage import coverage_issues
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.validation import ResourceValidator

MODES = ("create", "update", "delete")
DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "Resource-validate",
    "url": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "name": "validate",
    "status": "active",
    "kind": "operation",
    "code": "validate",
    "resource": sorted(load_definitions().resource_types),
    "system": False,
    "type": True,
    "instance": True,
    "parameter": [
        {"name": "resource", "use": "in", "min": 0, "max": "1", "type": "Resource"},
        {"name": "mode", "use": "in", "min": 0, "max": "1", "type": "code"},
        {"name": "profile", "use": "in", "min": 0, "max": "1", "type": "uri"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "OperationOutcome"},
    ],
}
NO_ISSUES = "問題ありません / no issues"
SWITCHED_OFF = Issue(
    "not-supported",
    "このサーバでは検証が無効です (TSUNAGU_VALIDATION=false)。何も検査していません / "
    "validation is switched off on this server (TSUNAGU_VALIDATION=false); nothing was checked",
    severity="warning",
)


class ValidationFailed(FhirError):
    """A write rejected because its resource does not validate (422, every issue)."""


class ProfilePolicy:
    """A `ResourceValidator` that also requires the configured profiles per resource type."""

    def __init__(self, validator: ResourceValidator, required: Mapping[str, Sequence[str]]) -> None:
        self.validator = validator
        self.required = {rtype: tuple(urls) for rtype, urls in required.items() if urls}

    def validate(self, resource: dict[str, Any], *, profiles: Sequence[str] = ()) -> list[Issue]:
        rtype = str(resource.get("resourceType", ""))
        required = self.required.get(rtype, ())
        claimed = _claimed(resource)
        missing = [url for url in required if _unversioned(url) not in claimed]
        issues = [_unclaimed(rtype, url) for url in missing]
        wanted = list(dict.fromkeys([*profiles, *missing]))
        found = self.validator.validate(resource, profiles=wanted)
        if missing:  # a profile's own `meta.profile 1..*` says the same thing: keep ours
            where = (f"{rtype}.meta.profile",)
            found = [i for i in found if not (i.code == "required" and i.expression == where)]
        return issues + found


def validate(
    ctx: Context, req: FhirRequest, resource_type: str, id: str | None = None
) -> FhirResponse:
    """POST [type]/$validate and [type]/[id]/$validate."""
    resource, mode, profile = _arguments(req)
    if id is not None and not is_valid_id(id):
        raise bad_request(
            f"'{id[:70]}' は FHIR の id として不正です / '{id[:70]}' is not a valid FHIR id"
        )
    if mode == "delete":
        return FhirResponse(200, _outcome(_deletable(ctx, resource_type, id)))
    if resource is None:
        raise bad_request(
            "検証するリソースがありません (本文か Parameters の resource) / "
            "no resource to validate (the body, or the 'resource' parameter)",
            code="required",
            expression=("resource",),
        )
    body = require_resource(
        resource, expected_type=resource_type, known=ctx.definitions.resource_types
    )
    body = rewrite(body, relative_to(ctx.base_url))
    issues: list[Issue] = []
    if mode == "update":
        issues.extend(_update_checks(ctx, resource_type, id, body))
    if ctx.validator is None:
        issues.append(SWITCHED_OFF)
    issues.extend(check(ctx, body, profiles=(profile,) if profile else ()))
    return FhirResponse(200, _outcome(issues))


# Japanese rules no profile expresses (e.g. the 保険者番号 check digit), per resource type.
_DOMAIN_RULES: dict[str, Callable[[dict[str, Any]], list[Issue]]] = {
    "Coverage": coverage_issues,
}


def check(ctx: Context, resource: dict[str, Any], *, profiles: Sequence[str] = ()) -> list[Issue]:
    """Every issue of a resource (none when validation is switched off)."""
    if ctx.validator is None:
        return []
    issues = ctx.validator.validate(resource, profiles=profiles)
    rules = _DOMAIN_RULES.get(str(resource.get("resourceType")))
    if rules is not None:
        issues.extend(rules(resource))
    return issues


def enforce(ctx: Context, resource: dict[str, Any]) -> None:
    """Raise `ValidationFailed` (422) when the resource has any error-level issue."""
    issues = check(ctx, resource)
    if has_errors(issues):
        raise rejection(issues)


def has_errors(issues: Sequence[Issue]) -> bool:
    return any(issue.severity in ("error", "fatal") for issue in issues)


def rejection(issues: Sequence[Issue]) -> ValidationFailed:
    """The 422 for invalid content: every issue, errors first (order kept otherwise)."""
    ordered = sorted(issues, key=lambda i: 0 if i.severity in ("fatal", "error") else 1)
    return ValidationFailed(422, list(ordered))


def body_issues(ctx: Context, body: Any, resource_type: str) -> list[Issue]:
    """The issues of a body that a write would validate (for reporting several entries)."""
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        return []
    return check(ctx, rewrite(body, relative_to(ctx.base_url)))


# --- steps ----------------------------------------------------------------------------


def _arguments(req: FhirRequest) -> tuple[Any, str, str | None]:
    """(resource, mode, profile) from a Parameters body or a plain resource body."""
    body = req.body
    mode = req.param("mode")
    profile = req.param("profile")
    resource: Any = body
    if is_parameters(body):
        resource = None
        for name, parameter in named_parameters(body):
            if name == "resource":
                resource = parameter.get("resource")
            elif name == "mode":
                mode = parameter.get("valueCode", parameter.get("valueString"))
            elif name == "profile":
                profile = next(
                    (
                        parameter[k]
                        for k in ("valueUri", "valueCanonical", "valueString")
                        if k in parameter
                    ),
                    None,
                )
    mode = mode or "create"
    if mode not in MODES:
        raise bad_request(
            f"mode '{str(mode)[:40]}' は使えません (create, update, delete) / "
            f"mode must be create, update or delete, got '{str(mode)[:40]}'",
            code="value",
            expression=("mode",),
        )
    if profile is not None and not isinstance(profile, str):
        raise bad_request(
            "profile は URL の文字列です / profile must be a canonical URL string",
            code="value",
            expression=("profile",),
        )
    return resource, str(mode), profile


def _update_checks(
    ctx: Context, resource_type: str, id: str | None, body: dict[str, Any]
) -> list[Issue]:
    issues: list[Issue] = []
    if id is None:
        return [
            Issue(
                "required",
                "mode=update には [type]/[id]/$validate を使います / "
                "mode=update needs the instance form [type]/[id]/$validate",
            )
        ]
    if body.get("id") != id:
        issues.append(
            Issue(
                "invalid",
                f"本文の id が URL の id ('{id}') と一致しません / "
                f"the resource's id must equal the id in the URL ('{id}')",
                expression=(f"{resource_type}.id",),
            )
        )
    return issues


def _deletable(ctx: Context, resource_type: str, id: str | None) -> list[Issue]:
    if id is None:
        raise bad_request(
            "mode=delete には [type]/[id]/$validate を使います / "
            "mode=delete needs the instance form [type]/[id]/$validate",
            code="required",
        )
    current = (ctx.session or ctx.repository).read(resource_type, id)
    if current is None or current.deleted:
        raise not_found(
            f"{resource_type}/{id} は存在しません / resource {resource_type}/{id} is not known"
        )
    return []


def _outcome(issues: list[Issue]) -> dict[str, Any]:
    if not issues:
        return operation_outcome([Issue("informational", NO_ISSUES, severity="information")])
    return operation_outcome(issues)


def _claimed(resource: dict[str, Any]) -> set[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(profiles, list):
        return set()
    return {_unversioned(p) for p in profiles if isinstance(p, str)}


def _unversioned(url: str) -> str:
    return url.split("|", 1)[0]


def _unclaimed(resource_type: str, url: str) -> Issue:
    return Issue(
        "processing",
        f"このサーバでは {resource_type} は meta.profile にプロファイル {url} を宣言し、"
        f"それに適合しなければなりません / this server requires every {resource_type} to "
        f"claim profile {url} in meta.profile and conform to it",
        expression=(f"{resource_type}.meta.profile",),
    )
