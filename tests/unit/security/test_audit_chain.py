"""The hash chain, pure: canonical form, linking, and the first broken link found."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.security.audit_chain import (
    GENESIS,
    Link,
    canonical,
    extend,
    link_hash,
    verify,
)


def _event(n: int) -> dict[str, Any]:
    return {"resourceType": "AuditEvent", "id": f"e{n}", "action": "R", "outcome": "0"}


def _chain(count: int) -> tuple[list[tuple[Link, dict[str, Any] | None]], tuple[int, str]]:
    events = [_event(n) for n in range(1, count + 1)]
    links = extend(0, GENESIS, ((e["id"], e) for e in events))
    head = (links[-1].seq, links[-1].hash) if links else (0, GENESIS)
    return list(zip(links, events, strict=True)), head


def test_canonical_is_independent_of_key_order_and_keeps_japanese() -> None:
    a = {"b": 1, "a": {"y": "山田", "x": [True, None]}}
    b = {"a": {"x": [True, None], "y": "山田"}, "b": 1}
    assert canonical(a) == canonical(b)
    assert canonical(a) == '{"a":{"x":[true,null],"y":"山田"},"b":1}'.encode()


def test_link_hash_is_sha256_of_previous_bytes_and_event() -> None:
    event = _event(1)
    expected = hashlib.sha256(bytes(32) + canonical(event)).hexdigest()
    assert link_hash(GENESIS, event) == expected


def test_extend_numbers_and_links_in_order() -> None:
    links = extend(5, "ab" * 32, [("x", _event(1)), ("y", _event(2))])
    assert [link.seq for link in links] == [6, 7]
    assert links[0].previous == "ab" * 32
    assert links[1].previous == links[0].hash


def test_an_intact_chain_verifies() -> None:
    links, head = _chain(5)
    report = verify(links, head)
    assert report.ok
    assert report.checked == 5


def test_an_empty_chain_verifies() -> None:
    assert verify([], (0, GENESIS)).ok


def test_a_modified_event_is_the_first_break() -> None:
    links, head = _chain(5)
    link, event = links[2]
    assert event is not None
    links[2] = (link, {**event, "outcome": "4"})
    report = verify(links, head)
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "modified" in report.first_break.reason


def test_a_modified_hash_breaks_at_that_link() -> None:
    links, head = _chain(4)
    link, event = links[1]
    links[1] = (Link(link.seq, link.event_id, link.previous, "f" * 64), event)
    report = verify(links, head)
    assert report.first_break is not None
    assert report.first_break.seq == 2


def test_a_removed_link_is_detected() -> None:
    links, head = _chain(4)
    del links[1]
    report = verify(links, head)
    assert report.first_break is not None
    assert report.first_break.seq == 2
    assert "missing" in report.first_break.reason


def test_a_removed_event_is_detected() -> None:
    links, head = _chain(3)
    links[2] = (links[2][0], None)
    report = verify(links, head)
    assert report.first_break is not None
    assert report.first_break.seq == 3


def test_a_truncated_tail_is_detected_by_the_head() -> None:
    links, head = _chain(4)
    report = verify(links[:3], head)
    assert report.first_break is not None
    assert report.first_break.seq == 4


def test_strays_break_after_the_last_link() -> None:
    links, head = _chain(2)
    report = verify(links, head, strays=["AuditEvent/zz is not in the chain"])
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "zz" in report.first_break.reason


@given(
    size=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_any_single_change_is_found_at_its_link(size: int, data: st.DataObject) -> None:
    links, head = _chain(size)
    position = data.draw(st.integers(min_value=0, max_value=size - 1))
    value = data.draw(st.text(min_size=1, max_size=8))
    link, event = links[position]
    assert event is not None
    changed = {**event, "outcomeDesc": value}
    links[position] = (link, changed)
    report = verify(links, head)
    assert report.first_break is not None
    assert report.first_break.seq == position + 1


# What stored AuditEvents can hold (stored JSON reads numbers back as int or Decimal).
_STRINGS = st.text(st.characters(exclude_categories=["Cs"]))  # no lone surrogates
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | _STRINGS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_STRINGS, inner, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=6))
def test_canonical_bytes_are_those_of_the_json_definition(event: dict[str, Any]) -> None:
    # Control characters, quotes, Japanese, astral characters, big integers, key order.
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(event) == expected.encode("utf-8")


def test_canonical_of_an_audit_event_with_every_kind_of_character() -> None:
    text = "".join(chr(c) for c in range(0x80)) + "\u2028\u2029\ufeff山田\U0001f600"
    event = {"resourceType": "AuditEvent", "outcomeDesc": text, "z": [1, True, None], "a": {}}
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(event) == expected.encode("utf-8")
