"""Parsing of the compact text tables the synthetic data is written in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """A value with alternatives: `(form, share)` pairs taken instead of `value` that often."""

    value: str
    alternatives: tuple[tuple[str, float], ...] = ()


def parse_choice(spec: str) -> Choice:
    """`高橋/髙橋:0.08` → 高橋 with 髙橋 8 % of the time; `コウノ|カワノ:0.4` likewise with `|`."""
    separator = "/" if "/" in spec else "|"
    head, *rest = spec.split(separator)
    alternatives = []
    for item in rest:
        form, _, share = item.partition(":")
        alternatives.append((form, float(share or "0.1")))
    return Choice(head, tuple(alternatives))


def rows(table: str) -> list[list[str]]:
    """The non-empty, non-comment lines of a table, split on whitespace."""
    out = []
    for line in table.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line.split())
    return out
