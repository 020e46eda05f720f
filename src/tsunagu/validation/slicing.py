"""Slice matching: discriminators compiled once per slice into small matchers.

Supported discriminators: `value` and `pattern` (fixed[x]/pattern[x] at the path, or a
required binding there), `exists`, `type` and `profile`. Paths are dotted element names,
`$this`, `extension('url')` and `ofType(T)`; a path through `resolve()` cannot be evaluated
without the target, so such a slice is matched by validating the item against it (as is any
slice whose discriminator has no usable value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tsunagu.validation.aliases import UriAliases, contains, equal
from tsunagu.validation.choices import choice_stems, choice_value
from tsunagu.validation.model import Discriminator, Node
from tsunagu.validation.registry import Registry

_EXTENSION_CALL = re.compile(r"extension\(['\"]([^'\"]+)['\"]\)")
_OF_TYPE = re.compile(r"ofType\(([A-Za-z]+)\)")

UNKNOWN = "unknown"


# One step of a compiled discriminator path: (kind, name or URL, is a choice name).
Step = tuple[int, str, bool]
_NAME, _EXTENSION, _OF_TYPE_STEP = 0, 1, 2


@dataclass(frozen=True)
class Matcher:
    kind: str  # fixed | pattern | binding | exists | type | profile | unknown
    parts: tuple[str, ...]
    expected: Any
    steps: tuple[Step, ...] | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", compile_path(self.parts))


def split_path(path: str) -> tuple[str, ...]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in path:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return tuple(p for p in parts if p and p != "$this")


def compile_path(parts: tuple[str, ...]) -> tuple[Step, ...] | None:
    """The steps of a discriminator path, parsed once; None if it goes through resolve()."""
    steps: list[Step] = []
    for part in parts:
        if part.startswith("resolve"):
            return None
        ext = _EXTENSION_CALL.fullmatch(part)
        if ext is not None:
            steps.append((_EXTENSION, ext.group(1), False))
        elif _OF_TYPE.fullmatch(part) is not None:
            steps.append((_OF_TYPE_STEP, part, False))
        else:
            name = part.removesuffix("[x]")
            steps.append((_NAME, name, name in choice_stems()))
    return tuple(steps)


def values_at(item: Any, parts: tuple[str, ...]) -> list[Any] | None:
    """Values found at a discriminator path; None if the path cannot be evaluated."""
    return values_along(item, compile_path(parts))


def values_along(item: Any, steps: tuple[Step, ...] | None) -> list[Any] | None:
    """Values found along compiled steps (see `values_at`)."""
    if steps is None:
        return None
    current = [item]
    for kind, name, is_choice in steps:
        found: list[Any] = []
        for value in current:
            if not isinstance(value, dict):
                continue
            if kind == _EXTENSION:
                found.extend(
                    e
                    for e in value.get("extension", ())
                    if isinstance(e, dict) and e.get("url") == name
                )
                continue
            if kind == _OF_TYPE_STEP:
                found.append(value)
                continue
            if name in value:
                child = value[name]
            elif is_choice:
                child = choice_value(value, name)
                if child is None:
                    continue
            else:
                continue
            if isinstance(child, list):
                found.extend(child)
            else:
                found.append(child)
        current = found
    return current


def implied_pattern(node: Node) -> Any:
    """The fixed/pattern values of a slice's inline descendants, as one pattern (or None).

    A slice discriminated by value at `$this` often fixes only its children
    (`coding.system`, `coding.code`); together they act as the slice's pattern.
    """
    if node.fixed is not None:
        return node.fixed[1]
    if node.pattern is not None:
        return node.pattern[1]
    found: dict[str, Any] = {}
    for name, child in node.children.items():
        if name in ("id", "extension", "modifierExtension") or child.is_choice:
            continue
        value = implied_pattern(child)
        if value is not None:
            found[name] = [value] if child.repeats and not isinstance(value, list) else value
    return found or None


def _target(slice_node: Node, parts: tuple[str, ...], registry: Registry) -> Node | None:
    current: Node | None = slice_node
    for part in parts:
        if current is None:
            return None
        if _OF_TYPE.fullmatch(part) or _EXTENSION_CALL.fullmatch(part):
            return None
        child = current.children.get(part) or current.children.get(part + "[x]")
        if child is None:
            for type_ref in current.types:
                for profile_url in type_ref.profiles:
                    profile = registry.profile(profile_url)
                    if profile is not None:
                        child = profile.root.children.get(part) or profile.root.children.get(
                            part + "[x]"
                        )
                        if child is not None:
                            break
                if child is not None:
                    break
        current = child
    return current


def _matcher(slice_node: Node, discriminator: Discriminator, registry: Registry) -> Matcher:
    parts = split_path(discriminator.path)
    kind = discriminator.type
    if any(p.startswith("resolve") for p in parts):
        return Matcher(UNKNOWN, parts, None)
    target = _target(slice_node, parts, registry)
    if kind in ("value", "pattern"):
        if (target is None or (target.fixed is None and target.pattern is None)) and parts == (
            "url",
        ):
            profiles = [p for t in slice_node.types for p in t.profiles]
            if slice_node.types and slice_node.types[0].code == "Extension" and profiles:
                return Matcher("fixed", parts, profiles[0].split("|", 1)[0])
        if target is None:
            return Matcher(UNKNOWN, parts, None)
        if target.fixed is not None:
            return Matcher("fixed", parts, target.fixed[1])
        if target.pattern is not None:
            return Matcher("pattern", parts, target.pattern[1])
        implied = implied_pattern(target)
        if implied is not None:
            return Matcher("pattern", parts, implied)
        if target.binding is not None and target.binding[0] == "required":
            return Matcher("binding", parts, target.binding[1])
        return Matcher("any", parts, None)  # the slice does not constrain this path
    if kind == "exists":
        if target is None:
            return Matcher(UNKNOWN, parts, None)
        return Matcher("exists", parts, target.min > 0)
    if kind == "type":
        if target is None:
            return Matcher(UNKNOWN, parts, None)
        return Matcher("type", parts, frozenset(target.type_codes()))
    if kind == "profile":
        if target is None:
            return Matcher(UNKNOWN, parts, None)
        wanted = tuple(p for t in target.types for p in t.profiles)
        if not wanted:
            return Matcher(UNKNOWN, parts, None)
        return Matcher("profile", parts, wanted)
    return Matcher(UNKNOWN, parts, None)


def matchers(sliced: Node, slice_node: Node, registry: Registry) -> tuple[Matcher, ...]:
    """The compiled matchers of one slice (cached on the slice node)."""
    found = slice_node.cache.get("matchers")
    if found is None:
        assert sliced.slicing is not None
        found = tuple(_matcher(slice_node, d, registry) for d in sliced.slicing.discriminators)
        slice_node.cache["matchers"] = found
    assert isinstance(found, tuple)
    return found


# Callbacks the walker provides: does `item` satisfy profile `url` / slice node `node`,
# and is the code in the value set ("valid"/"invalid"/"unknown").
ProfileCheck = Callable[[Any, str], bool]
SliceCheck = Callable[[Any, Node], bool]
CodeCheck = Callable[[Any, str], str]


def _type_of(value: Any, key_type: str | None) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return str(value["resourceType"])
    return key_type


def matches(
    item: Any,
    slice_node: Node,
    found: tuple[Matcher, ...],
    *,
    json_type: str | None,
    conforms: ProfileCheck,
    fits: SliceCheck,
    code_check: CodeCheck,
    aliases: UriAliases,
) -> bool:
    """True if the item belongs to the slice."""
    for matcher in found:
        if matcher.kind == "any":
            continue
        if matcher.kind == UNKNOWN:
            return fits(item, slice_node)
        values = values_along(item, matcher.steps)
        if values is None:
            return fits(item, slice_node)
        if matcher.kind == "fixed":
            if not any(equal(v, matcher.expected, aliases) for v in values):
                return False
        elif matcher.kind == "pattern":
            if not any(contains(v, matcher.expected, aliases) for v in values):
                return False
        elif matcher.kind == "binding":
            if not any(code_check(v, matcher.expected) == "valid" for v in values):
                return False
        elif matcher.kind == "exists":
            if bool(values) != matcher.expected:
                return False
        elif matcher.kind == "type":
            types = {_type_of(v, json_type if not matcher.parts else None) for v in values}
            if not types & matcher.expected:
                return False
        elif matcher.kind == "profile" and not any(
            conforms(v, url) for v in values for url in matcher.expected
        ):
            return False
    return True
