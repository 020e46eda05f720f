"""Resource ids, references and the checks every stored resource must pass."""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from tsunagu.fhir.outcomes import bad_request

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE_PATTERN = re.compile(r"[A-Z][A-Za-z]{0,63}")


def new_id() -> str:
    """A server-assigned logical id: a time-ordered UUID (version 7, RFC 9562).

    Ids made one after the other sort together, so each new resource's entry in the id
    indexes lands beside the last one instead of on a random page: a write dirties (and
    logs) fewer index pages on both databases. The 62 random bits keep ids unguessable
    and unique across processes. Written here because the standard library has `uuid7`
    only from Python 3.14 (use it then): 48 bits of Unix milliseconds, then the next 12
    bits of the time (the RFC's "increased clock precision", method 3), then the random
    bits."""
    nanoseconds = time.time_ns()
    milliseconds, rest = divmod(nanoseconds, 1_000_000)
    fraction = rest * 4096 // 1_000_000
    random_bits = int.from_bytes(os.urandom(8)) & _RANDOM_MASK
    value = (
        (milliseconds & _MILLIS_MASK) << 80 | 0x7 << 76 | fraction << 64 | 0b10 << 62 | random_bits
    )
    return str(uuid.UUID(int=value))


_MILLIS_MASK = (1 << 48) - 1
_RANDOM_MASK = (1 << 62) - 1


def is_valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None


def looks_like_type(value: str) -> bool:
    """True when a path segment has the shape of a resource type name."""
    return _TYPE_PATTERN.fullmatch(value) is not None


def require_resource(
    body: Any, *, expected_type: str | None, known: frozenset[str]
) -> dict[str, Any]:
    """The body as a resource object, or a 400 that says exactly what is wrong with it."""
    if not isinstance(body, dict):
        raise bad_request(
            "リクエスト本文が FHIR リソース (JSON オブジェクト) ではありません / "
            "the request body is not a FHIR resource (a JSON object)",
            code="structure",
        )
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str):
        raise bad_request(
            "resourceType がありません / the resource has no resourceType",
            code="required",
            expression=("resourceType",),
        )
    if resource_type not in known:
        raise bad_request(
            f"resourceType '{resource_type}' は FHIR R4 のリソース型ではありません / "
            f"'{resource_type}' is not a FHIR R4 resource type",
            code="value",
            expression=("resourceType",),
        )
    if expected_type is not None and resource_type != expected_type:
        raise bad_request(
            f"resourceType '{resource_type}' が URL の型 '{expected_type}' と一致しません / "
            f"resourceType '{resource_type}' does not match the URL's type '{expected_type}'",
            code="invalid",
            expression=("resourceType",),
        )
    rid = body.get("id")
    if rid is not None and (not isinstance(rid, str) or not is_valid_id(rid)):
        raise bad_request(
            "id の形式が不正です (英数字・'-'・'.' で 1〜64 文字) / "
            "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
            code="value",
            expression=(f"{resource_type}.id",),
        )
    meta = body.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise bad_request(
            "meta は JSON オブジェクトでなければなりません / meta must be a JSON object",
            code="structure",
            expression=(f"{resource_type}.meta",),
        )
    return body
