"""R4 primitive data types: JSON representation and lexical formats.

Each checker takes the JSON value and returns None when it is valid, or a short English
description of the expected format (the caller builds the bilingual message). The regular
expressions are those of the R4 specification (https://hl7.org/fhir/R4/datatypes.html),
plus calendar checks for dates (no 30 February) and the 32-bit range of integers.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from decimal import Decimal
from typing import Any

PrimitiveCheck = Callable[[Any], str | None]

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

DATE = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?")
DATE_TIME = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?")
INSTANT = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}")
TIME = re.compile(_TIME)
CODE = re.compile(r"[^\s]+( [^\s]+)*")
ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
URI = re.compile(r"\S+")
BASE64 = re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+")
# Control characters other than tab, CR and LF are not allowed in strings.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_STRING = 1024 * 1024
MEMO_SIZE = 8192  # strings remembered per check
MEMO_LENGTH = 256  # longer strings are checked every time


def _calendar_ok(text: str) -> bool:
    """True unless the year-month-day part names a day the month does not have."""
    if len(text) < 10 or (text[8] < "3" and text[8:10] != "29"):
        return True  # days 01-28 exist in every month (the regex has checked the digits)
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return day <= monthrange(year, month)[1]


def _string(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a JSON string"
    if not value:
        return "a non-empty string"
    if len(value) > MAX_STRING:
        return "a string of at most 1 MB"
    if _CONTROL.search(value):
        return "a string without control characters"
    return None


def _pattern(regex: re.Pattern[str], expected: str) -> PrimitiveCheck:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "a JSON string"
        if regex.fullmatch(value) is None:
            return expected
        return None

    return check


def _dated(regex: re.Pattern[str], expected: str) -> PrimitiveCheck:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "a JSON string"
        if regex.fullmatch(value) is None or not _calendar_ok(value):
            return expected
        return None

    return check


def _remembered(regex: re.Pattern[str], expected: str) -> PrimitiveCheck:
    """`_pattern` that remembers recent answers, for vocabulary (codes, ids, URIs): the same
    codes and system URIs recur in almost every resource, and a dict lookup is cheaper than
    the regular expression. Free text, dates and binary data are never kept. The memo is
    emptied when it reaches `MEMO_SIZE` strings."""
    seen: dict[str, bool] = {}

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "a JSON string"
        ok = seen.get(value)
        if ok is None:
            ok = regex.fullmatch(value) is not None
            if len(seen) >= MEMO_SIZE:
                seen.clear()
            if len(value) <= MEMO_LENGTH:
                seen[value] = ok
        return None if ok else expected

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "a JSON boolean (true or false)"


def _integer(low: int, high: int, expected: str) -> PrimitiveCheck:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return expected
        if not low <= value <= high:
            return expected
        return None

    return check


def _decimal(value: Any) -> str | None:
    # Decimal: what tsunagu.fhir.jsonio parses JSON numbers with a fraction into.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "a JSON number"
    if isinstance(value, Decimal):
        return None if value.is_finite() else "a finite JSON number"
    if value != value or value in (float("inf"), float("-inf")):
        return "a finite JSON number"
    return None


def _xhtml(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a JSON string"
    if not value.lstrip().startswith("<div"):
        return "XHTML whose root element is <div>"
    return None


_uri = _remembered(URI, "a URI without whitespace")


CHECKS: dict[str, PrimitiveCheck] = {
    "boolean": _boolean,
    "integer": _integer(INT32_MIN, INT32_MAX, "a 32-bit JSON integer"),
    "unsignedInt": _integer(0, INT32_MAX, "a JSON integer ≥ 0"),
    "positiveInt": _integer(1, INT32_MAX, "a JSON integer ≥ 1"),
    "decimal": _decimal,
    "string": _string,
    "markdown": _string,
    "code": _remembered(CODE, "a code (no leading, trailing or double whitespace)"),
    "id": _remembered(ID, "an id (1-64 of A-Z a-z 0-9 - .)"),
    "uri": _uri,
    "url": _uri,
    "canonical": _uri,
    "oid": _remembered(OID, "an OID URI (urn:oid:...)"),
    "uuid": _remembered(UUID, "a UUID URI (urn:uuid:..., lower case)"),
    "base64Binary": _pattern(BASE64, "base64 encoded data"),
    "date": _dated(DATE, "a date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    "dateTime": _dated(DATE_TIME, "a dateTime (YYYY[-MM[-DD[Thh:mm:ss[.s]+zz:zz]]])"),
    "instant": _dated(INSTANT, "an instant (YYYY-MM-DDThh:mm:ss[.s]+zz:zz)"),
    "time": _pattern(TIME, "a time (hh:mm:ss)"),
    "xhtml": _xhtml,
}

# JSON value kinds by primitive type, for the shape check of arrays (null placeholders).
NUMERIC = frozenset({"integer", "unsignedInt", "positiveInt", "decimal"})


def check_primitive(type_code: str, value: Any) -> str | None:
    """None if `value` is a valid JSON value of the primitive type, else what was expected."""
    check = CHECKS.get(type_code)
    return None if check is None else check(value)


def is_primitive(type_code: str) -> bool:
    return type_code in CHECKS
