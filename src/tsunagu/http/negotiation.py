"""Content negotiation: what the client sent (Content-Type) and what it accepts (_format)."""

from __future__ import annotations

from typing import Any

from tsunagu.fhir import jsonio
from tsunagu.fhir.outcomes import FhirError, bad_request

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"
_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir", "text/json"}
_FORMAT_ALIASES = {"json", "application/json", FHIR_JSON, "application/json+fhir", "text/json"}
_XML = {"xml", "text/xml", "application/xml", "application/fhir+xml", "application/xml+fhir"}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(method: str, path: str, content_type: str | None, raw: bytes) -> Any:
    """The parsed request body; 415 for a media type the interaction does not take."""
    if not raw:
        return None
    kind = media_type(content_type)
    if method == "PATCH":
        if kind != JSON_PATCH:
            raise FhirError.of(
                415,
                "not-supported",
                f"PATCH の Content-Type は {JSON_PATCH} です / PATCH takes {JSON_PATCH}, "
                f"not '{kind[:60]}'",
            )
    elif kind == FORM and path.endswith("_search"):
        return None  # form parameters are merged into the query by the endpoint
    elif kind not in _JSON_TYPES:
        raise FhirError.of(
            415,
            "not-supported",
            f"Content-Type '{kind[:60]}' には対応していません ({FHIR_JSON} を使ってください) / "
            f"unsupported Content-Type '{kind[:60]}'; send {FHIR_JSON}",
        )
    try:
        return jsonio.loads(raw)
    except (jsonio.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad_request(
            f"JSON の構文が不正です: {_position(error)} / malformed JSON: {_position(error)}",
            code="structure",
        ) from None


def _position(error: ValueError) -> str:
    if isinstance(error, jsonio.JSONDecodeError):
        return f"line {error.lineno} column {error.colno}"
    return "not UTF-8"


def check_format(fmt: str | None, accept: str | None) -> None:
    """406 when the client wants only a format other than JSON (XML is not served)."""
    if fmt is not None:
        value = fmt.strip().lower()
        if value in _FORMAT_ALIASES:
            return
        message = (
            f"_format '{fmt[:40]}' には対応していません (JSON のみ) / "
            f"_format '{fmt[:40]}' is not supported; this server speaks JSON"
        )
        raise FhirError.of(406 if value in _XML else 400, "not-supported", message)
    if accept:
        kinds = {media_type(part) for part in accept.split(",")}
        if kinds and kinds <= _XML:
            raise FhirError.of(
                406,
                "not-supported",
                "XML には対応していません (application/fhir+json を受け付けてください) / "
                "XML is not supported; accept application/fhir+json",
            )


def render(resource: dict[str, Any], *, pretty: bool) -> bytes:
    """The response body."""
    return jsonio.dumps(resource, pretty=pretty)
