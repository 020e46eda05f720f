"""Slice lookup tables: which slices an item may belong to, without trying them all.

Most slicing is by a fixed string at a one-step path (extensions by `url`, identifiers and
codings by `system`). For those, a table maps the value to the slices that fix it; a large
bucket (JP_Observation_LabResult_eCS has 209 core lab item slices on one `system`) is split
again by a second fixed value (`display`). The candidates are then matched in full.
"""

from __future__ import annotations

from typing import Any

from tsunagu.validation.aliases import UriAliases
from tsunagu.validation.model import Node
from tsunagu.validation.registry import Registry
from tsunagu.validation.slicing import matchers

Table = tuple[str, dict[str, list[int]]]
SubTable = tuple[str | None, dict[str, list[int]], list[int]]
SMALL_BUCKET = 8


def slice_table(node: Node, registry: Registry, aliases: UriAliases) -> Table | None:
    """(path, value -> slice positions) when every slice's first discriminator is a fixed
    string at the same one-step path; None otherwise. Cached on the node."""
    if "slice_table" in node.cache:
        found: Table | None = node.cache["slice_table"]
        return found
    table: dict[str, list[int]] | None = {}
    key: str | None = None
    for position, slice_node in enumerate(node.slices):
        first = matchers(node, slice_node, registry)[0]
        if (
            first.kind != "fixed"
            or len(first.parts) != 1
            or not isinstance(first.expected, str)
            or (key is not None and first.parts[0] != key)
        ):
            table = None
            break
        key = first.parts[0]
        assert table is not None
        table.setdefault(aliases.canonical(first.expected), []).append(position)
    result = (key, table) if table is not None and key is not None else None
    node.cache["slice_table"] = result
    return result


def candidates_for(
    node: Node, table: Table, item: Any, registry: Registry, aliases: UriAliases
) -> list[int]:
    """Positions of the slices an item may belong to, in slice order."""
    key, positions = table
    if not isinstance(item, dict):
        return []
    value = item.get(key)
    if not isinstance(value, str):
        return []
    canonical = aliases.canonical(value)
    bucket = positions.get(canonical, [])
    if len(bucket) <= SMALL_BUCKET:
        return bucket
    subtables: dict[str, SubTable] = node.cache.setdefault("slice_subtables", {})
    index = subtables.get(canonical)
    if index is None:
        index = subtables[canonical] = _subtable(node, bucket, registry)
    second, by_value, wild = index
    if second is None:
        return bucket
    other = item.get(second)
    found = by_value.get(other, []) if isinstance(other, str) else []
    return sorted(found + wild)


def _subtable(node: Node, bucket: list[int], registry: Registry) -> SubTable:
    second: str | None = None
    by_value: dict[str, list[int]] = {}
    wild: list[int] = []
    for position in bucket:
        compiled = matchers(node, node.slices[position], registry)
        if len(compiled) < 2 or compiled[1].kind == "any":
            wild.append(position)
            continue
        matcher = compiled[1]
        if (
            matcher.kind != "fixed"
            or len(matcher.parts) != 1
            or not isinstance(matcher.expected, str)
            or (second is not None and matcher.parts[0] != second)
        ):
            return None, {}, []
        second = matcher.parts[0]
        by_value.setdefault(matcher.expected, []).append(position)
    return second, by_value, wild
