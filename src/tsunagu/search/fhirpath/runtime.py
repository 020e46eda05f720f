"""FHIRPath operators and functions over evaluation nodes, used by the compiled closures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from tsunagu.search.fhirpath.values import FHIRPathError, Node


def _equality_key(value: Any) -> Any:
    """A hashable key equal for FHIRPath-equal JSON values (deep for objects)."""
    if isinstance(value, dict | list):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bool):
        return ("boolean", value)
    return value


def distinct(nodes: list[Node]) -> list[Node]:
    """The nodes without repeated values (FHIRPath equality), in order."""
    if len(nodes) < 2:
        return nodes
    seen: set[Any] = set()
    out: list[Node] = []
    for node in nodes:
        key = _equality_key(node[0])
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def _singleton_boolean(nodes: list[Node]) -> bool | None:
    """FHIRPath singleton evaluation of a collection as a Boolean (None when empty)."""
    if not nodes:
        return None
    if len(nodes) > 1:
        raise FHIRPathError(f"expected a single Boolean, got {len(nodes)} items")
    value = nodes[0][0]
    return value if isinstance(value, bool) else True


def criterion(nodes: list[Node]) -> bool:
    """A `where` criterion holds (the first item is true or a non-Boolean value)."""
    return bool(nodes) and nodes[0][0] is not False


def _boolean(value: bool | None) -> list[Node]:
    return [] if value is None else [(value, "boolean")]


def values_equal(left: Any, right: Any) -> bool:
    """FHIRPath equality of two JSON values (a Boolean never equals a number)."""
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return bool(_equality_key(left) == _equality_key(right))
    return bool(left == right)


def _equals(left: list[Node], right: list[Node]) -> bool | None:
    if not left or not right:
        return None
    if len(left) != len(right):
        return False
    return all(values_equal(a[0], b[0]) for a, b in zip(left, right, strict=True))


def _op_equal(left: list[Node], right: list[Node]) -> list[Node]:
    return _boolean(_equals(left, right))


def _op_not_equal(left: list[Node], right: list[Node]) -> list[Node]:
    equal = _equals(left, right)
    return _boolean(None if equal is None else not equal)


def _op_and(left: list[Node], right: list[Node]) -> list[Node]:
    a, b = _singleton_boolean(left), _singleton_boolean(right)
    if a is False or b is False:
        return _boolean(False)
    return _boolean(None if a is None or b is None else True)


def _op_or(left: list[Node], right: list[Node]) -> list[Node]:
    a, b = _singleton_boolean(left), _singleton_boolean(right)
    if a is True or b is True:
        return _boolean(True)
    return _boolean(None if a is None or b is None else False)


def _op_implies(left: list[Node], right: list[Node]) -> list[Node]:
    a, b = _singleton_boolean(left), _singleton_boolean(right)
    if a is False or b is True:
        return _boolean(True)
    return _boolean(None if a is None or b is None else False)


def _op_xor(left: list[Node], right: list[Node]) -> list[Node]:
    a, b = _singleton_boolean(left), _singleton_boolean(right)
    return _boolean(None if a is None or b is None else a != b)


OPERATORS: dict[str, Callable[[list[Node], list[Node]], list[Node]]] = {
    "=": _op_equal,
    "!=": _op_not_equal,
    "and": _op_and,
    "or": _op_or,
    "implies": _op_implies,
    "xor": _op_xor,
}


def _fn_not(nodes: list[Node]) -> list[Node]:
    value = _singleton_boolean(nodes)
    return _boolean(None if value is None else not value)


def _fn_has_value(nodes: list[Node]) -> list[Node]:
    return _boolean(len(nodes) == 1 and not isinstance(nodes[0][0], dict | list))


SIMPLE_FUNCTIONS: dict[str, Callable[[list[Node]], list[Node]]] = {
    "exists": lambda nodes: _boolean(bool(nodes)),
    "empty": lambda nodes: _boolean(not nodes),
    "not": _fn_not,
    "hasValue": _fn_has_value,
    "count": lambda nodes: [(len(nodes), "integer")],
    "first": lambda nodes: nodes[:1],
    "last": lambda nodes: nodes[-1:],
    "tail": lambda nodes: nodes[1:],
    "distinct": distinct,
}
EMPTY_ON_EMPTY = frozenset({"first", "last", "tail", "distinct"})
