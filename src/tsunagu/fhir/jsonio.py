"""JSON in and out, keeping FHIR decimals exactly as written.

FHIR requires a decimal's precision to be kept (`0.40` is not `0.4`; see
https://hl7.org/fhir/R4/datatypes.html#decimal). Parsing reads non-integer numbers as
`Decimal`; writing emits them with their original digits. orjson writes fast but cannot parse
into Decimal; msgspec can (`float_hook` receives the number's text) and parses a Patient with
Japanese names in half the time of the standard library. What msgspec refuses (malformed
JSON, lone surrogates, `NaN`, a byte-order mark) goes to the standard library, so errors and
the few leniencies read exactly as before.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import orjson

JSONDecodeError = json.JSONDecodeError
# One decoder for every call: `json.loads(..., parse_float=...)` builds a new one each time,
# which costs a third of parsing a small resource.
_DECODER = json.JSONDecoder(parse_float=Decimal)


_FAST = msgspec.json.Decoder(float_hook=Decimal)


def loads(data: bytes | str) -> Any:
    """Parse JSON; decimals become `Decimal`, integers `int`."""
    try:
        return _FAST.decode(data)
    except msgspec.DecodeError:
        pass  # the standard library says why (or accepts it, as it always did)
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    if data.startswith("\ufeff"):  # refused with the standard library's own message
        return json.loads(data)
    return _DECODER.decode(data)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialise to UTF-8 JSON, decimals with their original digits."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    try:
        return orjson.dumps(value, default=_default, option=option)
    except orjson.JSONEncodeError as error:
        if "64-bit" not in str(error):
            raise
        # orjson cannot write integers beyond 64 bits; write those through Decimal.
        return orjson.dumps(_wide_ints(value), default=_default, option=option)


def _wide_ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _wide_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wide_ints(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return Decimal(value)
    return value
