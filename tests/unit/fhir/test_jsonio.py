"""JSON parsing keeps decimals exact, and reads every document as the standard library does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir import jsonio

_STDLIB = json.JSONDecoder(parse_float=Decimal)

decimals = st.integers(0, 6).flatmap(
    lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.text()
    | st.sampled_from(["urn:oid:1.2.392.100495.20.3.51.1", "dose: 1.5}", "ヤマダ タロウ", "髙橋"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
)


def _typed(value: Any) -> Any:
    """The value with the type of every leaf, so that 1 == Decimal(1) does not pass for equal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, str(value))


@given(values, st.lists(decimals, max_size=3), st.booleans())
def test_documents_read_as_the_standard_library_reads_them(
    value: Any, numbers: list[Decimal], as_bytes: bool
) -> None:
    text = json.dumps([value], ensure_ascii=False)
    if numbers:  # decimals written with their own digits (1.50 stays 1.50)
        text = text[:-1] + "".join(f", {n}" for n in numbers) + "]"
    data: bytes | str = text.encode() if as_bytes else text
    assert _typed(jsonio.loads(data)) == _typed(_STDLIB.decode(text))


@pytest.mark.parametrize(
    "text",
    ['{"a": 0.40, "b": 1.50}', "[1e5, -0.0, 1E400]", "[99999999999999999999]", '{"a": 1, "a": 2}'],
)
def test_decimals_wide_integers_and_repeated_keys(text: str) -> None:
    assert _typed(jsonio.loads(text)) == _typed(_STDLIB.decode(text))
    assert jsonio.dumps(jsonio.loads(text)) == jsonio.dumps(_STDLIB.decode(text))


@pytest.mark.parametrize("text", ['["\\ud800"]', "[NaN]", '{"a": 1'])
def test_what_the_fast_parser_refuses_goes_to_the_standard_library(text: str) -> None:
    try:
        expected: Any = _typed(_STDLIB.decode(text))
    except json.JSONDecodeError as error:
        message = str(error)
    else:
        assert _typed(jsonio.loads(text)) == expected
        return
    with pytest.raises(json.JSONDecodeError) as raised:
        jsonio.loads(text)
    assert str(raised.value) == message


def test_a_byte_order_mark_is_still_refused_in_text() -> None:
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        jsonio.loads("\ufeff{}")


objects = st.dictionaries(st.text(), values, max_size=5)


@given(objects, st.booleans())
def test_a_stored_object_is_written_as_its_text_and_reads_as_its_value(
    value: dict[str, Any], pretty: bool
) -> None:
    text = jsonio.dumps(value).decode()
    stored = jsonio.StoredObject(text)
    out = jsonio.dumps({"entry": [{"resource": stored}]}, pretty=pretty)
    assert _typed(jsonio.loads(out)) == _typed({"entry": [{"resource": jsonio.loads(text)}]})
    if pretty:  # parsed, so that it is indented like the rest
        assert out == jsonio.dumps({"entry": [{"resource": jsonio.loads(text)}]}, pretty=True)
    else:
        assert text.encode() in out
    assert _typed(dict(stored)) == _typed(jsonio.loads(text))
    assert stored == jsonio.loads(text)


def test_a_stored_object_is_written_unparsed_until_someone_looks_inside() -> None:
    # Not what `dumps` would write for it (spaces, a decimal's digits): the text goes out as is.
    stored = jsonio.StoredObject('{"resourceType": "Observation", "valueDecimal": 0.40}')
    assert not stored.parsed
    assert jsonio.dumps([stored]) == b'[{"resourceType": "Observation", "valueDecimal": 0.40}]'
    assert not stored.parsed
    assert stored["valueDecimal"] == Decimal("0.40")
    assert stored.parsed
    assert len(stored) == 2
    assert list(stored) == ["resourceType", "valueDecimal"]
    with pytest.raises(TypeError):
        stored["id"] = "x"


def test_a_stored_object_beside_a_wide_integer() -> None:
    stored = jsonio.StoredObject('{"a": 1.50}')
    assert jsonio.dumps([stored, 2**70]) == b'[{"a":1.50},1180591620717411303424]'
