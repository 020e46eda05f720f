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
from collections.abc import Iterator, Mapping
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


class StoredObject(Mapping[str, Any]):
    """A JSON object kept as the text it was stored in, parsed on the first look inside.

    `dumps` writes the text itself (an `orjson.Fragment`), so a response that passes stored
    resources through unchanged neither parses nor serialises them: for a search page of 100
    resources that is most of the server's work after the query. The text must be JSON this
    server wrote (compact, `resourceType` first); anything else is parsed by its reader.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str | bytes) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    @property
    def value(self) -> dict[str, Any]:
        """The parsed object (parsed once; callers must not change it)."""
        if self._value is None:
            self._value = loads(self.text)
        return self._value

    @property
    def parsed(self) -> bool:
        return self._value is not None

    def __getitem__(self, key: str) -> Any:
        return self.value[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"StoredObject({len(self.text)} characters)"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    if isinstance(value, StoredObject):
        return orjson.Fragment(value.text)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _default_pretty(value: Any) -> Any:
    if isinstance(value, StoredObject):  # parsed, so that it is indented like the rest
        return value.value
    return _default(value)


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialise to UTF-8 JSON, decimals with their original digits."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    default = _default_pretty if pretty else _default
    try:
        return orjson.dumps(value, default=default, option=option)
    except orjson.JSONEncodeError as error:
        if "64-bit" not in str(error):
            raise
        # orjson cannot write integers beyond 64 bits; write those through Decimal.
        return orjson.dumps(_wide_ints(value), default=default, option=option)


def _wide_ints(value: Any) -> Any:
    if isinstance(value, StoredObject):
        value = value.value
    if isinstance(value, dict):
        return {k: _wide_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wide_ints(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return Decimal(value)
    return value
