"""FhirError and OperationOutcome builders.

Every failure in Tsunagu is raised as a `FhirError` and turned into an OperationOutcome in
one place per transport (HTTP errors, or one Bundle entry). Messages are Japanese first with
English after, and never contain resource content or personal data.
See: https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: severity, an issue-type code and a readable message."""

    code: str
    message: str
    severity: Severity = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.message,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


@dataclass
class FhirError(Exception):
    """A failure with its HTTP status and the issues that explain it."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        message: str,
        *,
        expression: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> FhirError:
        return cls(status, [Issue(code, message, expression=expression)], headers or {})

    def __str__(self) -> str:
        return "; ".join(issue.message for issue in self.issues)

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource for the given issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def information(message: str, code: str = "informational") -> dict[str, Any]:
    """An OperationOutcome reporting success, for `Prefer: return=OperationOutcome`."""
    return operation_outcome([Issue(code, message, severity="information")])


# Shorthands for the errors raised most often. The message arguments are full sentences.


def bad_request(
    message: str, *, code: str = "invalid", expression: tuple[str, ...] = ()
) -> FhirError:
    return FhirError.of(400, code, message, expression=expression)


def not_found(message: str) -> FhirError:
    return FhirError.of(404, "not-found", message)


def gone(message: str) -> FhirError:
    return FhirError.of(410, "deleted", message)


def conflict(message: str) -> FhirError:
    return FhirError.of(409, "conflict", message)


def precondition_failed(message: str) -> FhirError:
    return FhirError.of(412, "conflict", message)


def unprocessable(message: str, *, expression: tuple[str, ...] = ()) -> FhirError:
    return FhirError.of(422, "processing", message, expression=expression)


def not_supported(message: str, *, status: int = 405) -> FhirError:
    return FhirError.of(status, "not-supported", message)
