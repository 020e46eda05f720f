"""FHIRPath runtime for the compiled subset: values, operators and functions as closures.

Collections are plain lists of JSON values; `Env` carries the variables and the hooks for the
environment functions (resolve, conformsTo, memberOf). See `fhirpath.py` for the compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tsunagu.validation.choices import choice_stems, choice_value

# Numbers as parsed JSON holds them: ints, floats and Decimals (tsunagu.fhir.jsonio).
Number = (int, float, Decimal)

Collection = list[Any]


@dataclass
class Env:
    """Evaluation environment: variables and the hooks of the environment functions."""

    resource: Any
    root: Any
    resolve: Callable[[str], Any]
    conforms: Callable[[Any, str], bool]
    member_of: Callable[[Any, str], bool | None]


Fn = Callable[[Collection, Env], Collection]


class Unsupported(Exception):
    """The expression uses something this compiler does not implement."""


TYPE_NAMES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "code": str,
    "uri": str,
    "id": str,
    "markdown": str,
    "dateTime": str,
    "date": str,
    "instant": str,
    "boolean": bool,
    "integer": int,
    "decimal": (int, float, Decimal),
    "String": str,
    "Boolean": bool,
    "Integer": int,
    "Decimal": (int, float, Decimal),
    "Date": str,
    "DateTime": str,
    "Time": str,
}


def to_bool(items: Collection) -> bool | None:
    """Singleton evaluation: empty -> None, one boolean -> it, one other item -> True."""
    if not items:
        return None
    if len(items) == 1:
        value = items[0]
        return value if isinstance(value, bool) else True
    raise ValueError("multiple items where a boolean is expected")


def children(value: Any, name: str) -> Collection:
    if not isinstance(value, dict):
        return []
    if name in value:
        child = value[name]
    else:
        child = choice_value(value, name)
        if child is None:
            return []
    if isinstance(child, list):
        return [c for c in child if c is not None]
    return [child]


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a == b and type(a) is type(b))
    if isinstance(a, Number) and isinstance(b, Number):
        return float(a) == float(b)
    return bool(a == b)


def compare(a: Any, b: Any) -> int | None:
    if isinstance(a, dict) and isinstance(b, dict):  # quantities
        if a.get("code", a.get("unit")) != b.get("code", b.get("unit")):
            return None
        a, b = a.get("value"), b.get("value")
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Number) and isinstance(b, Number):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        if len(a) != len(b) and (a[:4].isdigit() and b[:4].isdigit()):
            return None  # dates of different precision: indeterminate
        return (a > b) - (a < b)
    return None


def then(first: Fn, second: Fn) -> Fn:
    if isinstance(second, Member) and second.source is None:
        return Member(second.member_name, first)
    return lambda c, e: second(first(c, e), e)


class Member:
    """A member step; remembers its name so that `name.ofType(T)` becomes `nameT`."""

    def __init__(self, name: str, source: Fn | None = None) -> None:
        self.member_name = name
        self.source = source
        # Only a choice element name can match a typed JSON name (`value` -> `valueQuantity`).
        self.is_choice = name in choice_stems()

    def __call__(self, items: Collection, env: Env) -> Collection:
        # `children` inlined: this is the hottest step of every invariant.
        if self.source is not None:
            items = self.source(items, env)
        out: Collection = []
        name = self.member_name
        for item in items:
            if not isinstance(item, dict):
                continue
            if name in item:
                child = item[name]
            elif self.is_choice:
                child = choice_value(item, name)
                if child is None:
                    continue
            else:
                continue
            if isinstance(child, list):
                out.extend([c for c in child if c is not None])
            else:
                out.append(child)
        return out


def member(name: str) -> Fn:
    return Member(name)


def choice_then(fn: Fn, name: str, type_name: str) -> Fn:
    """`x.name.ofType(T)`: the JSON property `nameT` if present, else filter by type."""
    assert isinstance(fn, Member)
    source = fn.source
    key = name + type_name[:1].upper() + type_name[1:]
    filtering = of_type(type_name)

    def choice(items: Collection, env: Env) -> Collection:
        if source is not None:
            items = source(items, env)
        out: Collection = []
        for item in items:
            if isinstance(item, dict) and key in item:
                out.extend(children(item, key))
            else:
                out.extend(filtering(children(item, name), env))
        return out

    return choice


def root_type(name: str) -> Fn:
    def root(items: Collection, env: Env) -> Collection:
        out = []
        for item in items:
            kind = item.get("resourceType") if isinstance(item, dict) else None
            if kind is None or kind == name or name in ("Resource", "DomainResource"):
                out.append(item)
        return out if out else [i for i in items if not isinstance(i, dict) or i]

    return root


def variable(name: str) -> Fn:
    if name == "resource":
        return lambda c, e: [e.resource]
    if name == "rootResource":
        return lambda c, e: [e.root]
    if name == "ucum":
        return lambda c, e: ["http://unitsofmeasure.org"]
    if name == "context":
        return lambda c, e: c
    raise Unsupported(f"%{name}")


def index(fn: Fn, position_fn: Fn) -> Fn:
    def indexed(items: Collection, env: Env) -> Collection:
        values = fn(items, env)
        position = position_fn(items, env)
        if not position or not isinstance(position[0], int):
            return []
        number = position[0]
        return [values[number]] if 0 <= number < len(values) else []

    return indexed


def of_type(type_name: str) -> Fn:
    function = of_type_filter(type_name)
    function.of_type = type_name  # type: ignore[attr-defined]
    return function


def of_type_filter(type_name: str) -> Fn:
    python_type = TYPE_NAMES.get(type_name)

    def of_type(items: Collection, env: Env) -> Collection:
        out: Collection = []
        for item in items:
            if isinstance(item, dict):
                kind = item.get("resourceType")
                if kind == type_name or (kind is None and python_type is None):
                    out.append(item)
            elif python_type is not None and isinstance(item, python_type):
                if python_type is int and isinstance(item, bool):
                    continue
                out.append(item)
        return out

    return of_type


def is_(type_name: str) -> Fn:
    check = of_type_filter(type_name)

    def is_type(items: Collection, env: Env) -> Collection:
        if len(items) != 1:
            return []
        return [bool(check(items, env))]

    return is_type


def boolean(fn: Fn, items: Collection, env: Env) -> bool | None:
    """`to_bool(fn(items, env))`, inlined (every `and`/`or`/`implies` goes through it)."""
    result = fn(items, env)
    if not result:
        return None
    if len(result) == 1:
        value = result[0]
        return value if isinstance(value, bool) else True
    raise ValueError("multiple items where a boolean is expected")


def and_(left: Fn, right: Fn) -> Fn:
    def both(items: Collection, env: Env) -> Collection:
        a = boolean(left, items, env)
        if a is False:
            return [False]
        b = boolean(right, items, env)
        if b is False:
            return [False]
        return [True] if a and b else []

    return both


def or_(left: Fn, right: Fn) -> Fn:
    def either(items: Collection, env: Env) -> Collection:
        a = boolean(left, items, env)
        if a is True:
            return [True]
        b = boolean(right, items, env)
        if b is True:
            return [True]
        return [False] if a is False and b is False else []

    return either


def xor(left: Fn, right: Fn) -> Fn:
    def exclusive(items: Collection, env: Env) -> Collection:
        a, b = boolean(left, items, env), boolean(right, items, env)
        return [] if a is None or b is None else [a != b]

    return exclusive


def implies(left: Fn, right: Fn) -> Fn:
    def implication(items: Collection, env: Env) -> Collection:
        a = boolean(left, items, env)
        if a is False:
            return [True]
        b = boolean(right, items, env)
        if b is True:
            return [True]
        if a is True and b is False:
            return [False]
        return []

    return implication


def literal(value: Any) -> Fn:
    """A literal; remembers its value so that `x = 'text'` can compare directly."""

    def constant(items: Collection, env: Env) -> Collection:
        return [value]

    constant.literal = value  # type: ignore[attr-defined]
    return constant


def eq(left: Fn, right: Fn, *, negate: bool) -> Fn:
    text = getattr(right, "literal", None)
    if isinstance(text, str):
        # `x = 'text'`: `equal(x, 'text')` is plain `==` for every JSON value.
        def text_equality(items: Collection, env: Env) -> Collection:
            a = left(items, env)
            if not a:
                return []
            return [(len(a) == 1 and a[0] == text) != negate]

        return text_equality

    def equality(items: Collection, env: Env) -> Collection:
        a, b = left(items, env), right(items, env)
        if not a or not b:
            return []
        result = len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
        return [result != negate]

    return equality


def cmp(left: Fn, right: Fn, op: str) -> Fn:
    def comparison(items: Collection, env: Env) -> Collection:
        a, b = left(items, env), right(items, env)
        if len(a) != 1 or len(b) != 1:
            return []
        order = compare(a[0], b[0])
        if order is None:
            return []
        return [
            {"<": order < 0, ">": order > 0, "<=": order <= 0, ">=": order >= 0}[op],
        ]

    return comparison


def union(left: Fn, right: Fn) -> Fn:
    def union(items: Collection, env: Env) -> Collection:
        out: Collection = []
        for value in left(items, env) + right(items, env):
            if not any(equal(value, seen) for seen in out):
                out.append(value)
        return out

    return union


def in_(element: Fn, collection: Fn) -> Fn:
    def membership(items: Collection, env: Env) -> Collection:
        values = element(items, env)
        if not values:
            return []
        pool = collection(items, env)
        return [any(equal(values[0], other) for other in pool)]

    return membership


def arith(left: Fn, right: Fn, op: str) -> Fn:
    def arithmetic(items: Collection, env: Env) -> Collection:
        a, b = left(items, env), right(items, env)
        if op == "&":
            return [(str(a[0]) if a else "") + (str(b[0]) if b else "")]
        if len(a) != 1 or len(b) != 1:
            return []
        x, y = a[0], b[0]
        if isinstance(x, str) and isinstance(y, str) and op == "+":
            return [x + y]
        if isinstance(x, Number) and isinstance(y, Number):
            if isinstance(x, Decimal) != isinstance(y, Decimal):  # Decimal + float is refused
                x, y = Decimal(str(x)), Decimal(str(y))
            return [x + y if op == "+" else x - y]
        return []

    return arithmetic
