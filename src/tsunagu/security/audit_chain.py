"""The tamper-evident audit chain: canonical AuditEvents linked by SHA-256 hashes.

Each link's hash is `SHA-256(previous hash ‖ canonical event)`, where the previous hash is
the 32 raw bytes of the link before (all zeros for the first) and the canonical event is the
stored AuditEvent as JSON with sorted keys, no insignificant whitespace and UTF-8 text. Sequence
numbers start at 1 and have no gaps, and the chain head records the last link, so a changed
event, a changed hash, a removed link and a truncated tail all break verification.
Pure: the storage layer reads the links and events and hands them over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64  # the "previous hash" of link 1


def canonical(event: Mapping[str, Any]) -> bytes:
    """The event's canonical bytes: sorted keys, compact separators, UTF-8 (not escaped).

    The definition is Python's `json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`. orjson writes the same bytes for what stored AuditEvents hold
    (strings, integers, booleans, null, objects, arrays: tests/unit/security/
    test_audit_chain.py checks it), many times faster; what orjson refuses (integers beyond
    64 bits, other types) takes the definition's own path. Floats are the one difference,
    and they cannot occur: stored JSON reads decimals back as `Decimal`, which neither
    serialiser accepts, so an event with a float could never be verified either way."""
    try:
        return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def link_hash(previous: str, event: Mapping[str, Any]) -> str:
    """The hash of the link that appends `event` after a link whose hash is `previous`."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """One row of the chain: its position, the AuditEvent id, and the hashes."""

    seq: int
    event_id: str
    previous: str
    hash: str


def extend(
    head_seq: int, head_hash: str, events: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[Link]:
    """The links that append `(event id, event)` pairs after the head, in order."""
    links: list[Link] = []
    seq, previous = head_seq, head_hash
    for event_id, event in events:
        seq += 1
        current = link_hash(previous, event)
        links.append(Link(seq, event_id, previous, current))
        previous = current
    return links


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first link that does not verify, and why (no event content in the reason)."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a verification: how many links were checked, the first break if any."""

    checked: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify(
    links: Iterable[tuple[Link, Mapping[str, Any] | None]],
    head: tuple[int, str],
    *,
    strays: Iterable[str] = (),
) -> ChainReport:
    """Check links (in sequence order, each with its stored event or None if it is missing)
    against each other and against the chain head `(seq, hash)`.

    `strays` describe stored AuditEvents the chain does not account for (added or changed
    behind the audit store's back: no link, or a later version); the first one is a break
    after the last link.
    """
    expected_seq, previous, checked = 1, GENESIS, 0
    head_seq, head_hash = head

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(checked, head_seq, head_hash, ChainBreak(seq, reason))

    for link, event in links:
        if link.seq != expected_seq:
            return broken(expected_seq, f"link {expected_seq} is missing (next is {link.seq})")
        if link.previous != previous:
            return broken(link.seq, "its previous hash does not match the link before")
        if event is None:
            return broken(link.seq, f"AuditEvent/{link.event_id} is missing")
        if event.get("id") != link.event_id:
            return broken(link.seq, f"AuditEvent/{link.event_id} has another id")
        if link_hash(previous, event) != link.hash:
            return broken(link.seq, f"AuditEvent/{link.event_id} or its hash was modified")
        previous, expected_seq, checked = link.hash, expected_seq + 1, checked + 1
    if checked != head_seq:
        return broken(checked + 1, f"the chain ends at link {checked}, the head says {head_seq}")
    if previous != head_hash:
        return broken(checked, "the last link's hash does not match the chain head")
    for stray in strays:
        return broken(checked + 1, stray)
    return ChainReport(checked, head_seq, head_hash)
