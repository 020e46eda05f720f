"""Every failure becomes an OperationOutcome with the right status, and nothing else leaks.

Unexpected exceptions are logged with their type and code location only (no message: it may
hold personal data) under a request id that the client also receives.
"""

from __future__ import annotations

import logging
import traceback

from starlette.responses import Response

from tsunagu.fhir.outcomes import FhirError, Issue, operation_outcome
from tsunagu.http.negotiation import FHIR_JSON, render

log = logging.getLogger("tsunagu.http")


def error_response(error: FhirError, *, pretty: bool = False, head: bool = False) -> Response:
    """The OperationOutcome for a FhirError."""
    body = b"" if head else render(error.outcome(), pretty=pretty)
    return Response(body, error.status, headers=error.headers, media_type=FHIR_JSON)


def internal_error(exc: BaseException, request_id: str) -> Response:
    """A 500 that names the request id, logged without the exception's message."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames[-4:])
    )
    log.error("request %s failed: %s at %s", request_id, type(exc).__name__, where)
    outcome = operation_outcome(
        [
            Issue(
                "exception",
                f"内部エラーが発生しました (要求 ID {request_id}) / "
                f"internal server error (request id {request_id})",
                severity="fatal",
            )
        ]
    )
    return Response(render(outcome, pretty=False), 500, media_type=FHIR_JSON)
