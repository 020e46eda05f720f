"""A FHIRPath subset compiled to Python closures, for invariants.

fhirpathpy interprets its parse tree on every call (tens of microseconds per node); this
compiler turns an expression into nested closures once, so an invariant costs a few
microseconds. It covers what ElementDefinition constraints use: paths (choices by JSON
name, `ofType`/`is`/`as`), `where select all exists empty count first last tail not
hasValue matches startsWith endsWith contains substring indexOf length distinct isDistinct
iif extension intersect union combine single trace resolve conformsTo memberOf htmlChecks`,
three-valued `and or xor implies`, comparisons, `| + - & in contains`, literals and the
variables `%resource %rootResource %context %ucum`. Anything else raises `Unsupported` at
compile time and the caller falls back to fhirpathpy.
"""

from __future__ import annotations

import re
from typing import Any

from tsunagu.validation.fhirpath_functions import function
from tsunagu.validation.fhirpath_ops import (
    Collection,
    Env,
    Fn,
    Number,
    Unsupported,
    and_,
    arith,
    choice_then,
    cmp,
    eq,
    implies,
    in_,
    index,
    is_,
    literal,
    member,
    of_type,
    or_,
    root_type,
    then,
    union,
    variable,
    xor,
)

__all__ = ["Collection", "Env", "Fn", "Unsupported", "compile_expression", "tokenize"]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<date>@[0-9T:\-+.Z]+)"
    r"|(?P<var>%[A-Za-z][A-Za-z0-9_]*|%`[^`]*`)"
    r"|(?P<special>\$this|\$index|\$total)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*|`[^`]*`)"
    r"|(?P<op><=|>=|!=|!~|[=~<>|&+\-*/().,\[\]{}])"
    r")"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Unsupported(f"cannot tokenize at {position}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
    tokens.append(("end", ""))
    return tokens


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


class Parser:
    """Recursive descent over FHIRPath precedence levels, producing closures."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        text = self.take()[1]
        if text != value:
            raise Unsupported(f"expected {value!r}, got {text!r}")

    def at(self, *values: str) -> bool:
        kind, text = self.peek()
        return kind in ("op", "ident") and text in values

    def parse(self) -> Fn:
        fn = self.implies()
        if self.peek()[0] != "end":
            raise Unsupported("trailing input")
        return fn

    def implies(self) -> Fn:
        left = self.or_()
        while self.at("implies"):
            self.take()
            right = self.or_()
            left = implies(left, right)
        return left

    def or_(self) -> Fn:
        left = self.and_()
        while self.at("or", "xor"):
            op = self.take()[1]
            right = self.and_()
            left = or_(left, right) if op == "or" else xor(left, right)
        return left

    def and_(self) -> Fn:
        left = self.membership()
        while self.at("and"):
            self.take()
            right = self.membership()
            left = and_(left, right)
        return left

    def membership(self) -> Fn:
        left = self.equality()
        while self.at("in", "contains"):
            op = self.take()[1]
            right = self.equality()
            left = in_(left, right) if op == "in" else in_(right, left)
        return left

    def equality(self) -> Fn:
        left = self.inequality()
        while self.at("=", "!=", "~", "!~"):
            op = self.take()[1]
            right = self.inequality()
            left = eq(left, right, negate=op in ("!=", "!~"))
        return left

    def inequality(self) -> Fn:
        left = self.union()
        while self.at("<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.union()
            left = cmp(left, right, op)
        return left

    def union(self) -> Fn:
        left = self.type_expr()
        while self.at("|"):
            self.take()
            right = self.type_expr()
            left = union(left, right)
        return left

    def type_expr(self) -> Fn:
        left = self.additive()
        while self.at("is", "as"):
            op = self.take()[1]
            type_name = self.type_name()
            left = then(left, of_type(type_name) if op == "as" else is_(type_name))
        return left

    def type_name(self) -> str:
        name = self.take()[1]
        while self.at("."):
            self.take()
            name = self.take()[1]  # FHIR.Patient / System.String -> last part
        return name.strip("`")

    def additive(self) -> Fn:
        left = self.multiplicative()
        while self.at("+", "-", "&"):
            op = self.take()[1]
            right = self.multiplicative()
            left = arith(left, right, op)
        return left

    def multiplicative(self) -> Fn:
        left = self.unary()
        if self.at("*", "/", "div", "mod"):
            raise Unsupported("multiplicative operators")
        return left

    def unary(self) -> Fn:
        if self.at("-"):
            self.take()
            inner = self.unary()
            return lambda c, e: [-v for v in inner(c, e) if isinstance(v, Number)]
        if self.at("+"):
            self.take()
        return self.invocation_chain()

    def invocation_chain(self) -> Fn:
        fn = self.term()
        while True:
            if self.at("."):
                self.take()
                step = self.invocation(root=False)
                member_name = getattr(fn, "member_name", None)
                type_name = getattr(step, "of_type", None)
                if member_name is not None and type_name is not None and fn is not None:
                    fn = choice_then(fn, member_name, type_name)
                else:
                    fn = then(fn, step)
            elif self.at("["):
                self.take()
                position = self.implies()
                self.expect("]")
                fn = index(fn, position)
            else:
                return fn

    def term(self) -> Fn:
        kind, text = self.peek()
        if kind == "str":
            self.take()
            return literal(_unescape(text))
        if kind == "num":
            self.take()
            number: Any = float(text) if "." in text else int(text)
            return lambda c, e: [number]
        if kind == "date":
            self.take()
            date_text = text[1:]
            return lambda c, e: [date_text]
        if kind == "var":
            self.take()
            return variable(text[1:].strip("`"))
        if kind == "special":
            self.take()
            if text == "$this":
                return lambda c, e: c
            raise Unsupported(text)
        if text == "(":
            self.take()
            inner = self.implies()
            self.expect(")")
            return inner
        if text == "{":
            self.take()
            self.expect("}")
            return lambda c, e: []
        if kind == "ident":
            if text in ("true", "false"):
                self.take()
                flag = text == "true"
                return lambda c, e: [flag]
            return self.invocation(root=True)
        raise Unsupported(f"unexpected {text!r}")

    def invocation(self, *, root: bool) -> Fn:
        kind, name = self.take()
        if kind != "ident":
            raise Unsupported(f"expected a name, got {name!r}")
        name = name.strip("`")
        if self.at("("):
            self.take()
            args: list[Fn] = []
            raw_type: str | None = None
            if name in ("ofType", "is", "as"):
                raw_type = self.type_name()
            else:
                while not self.at(")"):
                    args.append(self.implies())
                    if self.at(","):
                        self.take()
            self.expect(")")
            return function(name, args, raw_type)
        if root and name[:1].isupper():
            return root_type(name)
        return member(name)


def compile_expression(text: str) -> Fn:
    """Compile an expression; raises Unsupported for anything outside the subset."""
    return Parser(text).parse()
