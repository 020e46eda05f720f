"""FHIRPath syntax for the compiled subset: tokenizer, AST node classes and parser.

Anything the small parser does not know raises `Unsupported`, and the expression then runs
on fhirpathpy instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class Unsupported(Exception):
    """Outside the compiled subset (including syntax the small parser does not know)."""


@dataclass(frozen=True)
class Ident:
    name: str


@dataclass(frozen=True)
class Member:
    base: Ast
    name: str


@dataclass(frozen=True)
class Call:
    base: Ast | None
    name: str
    args: tuple[Ast, ...]


@dataclass(frozen=True)
class Index:
    base: Ast
    index: Ast


@dataclass(frozen=True)
class Binary:
    op: str
    left: Ast
    right: Ast


def union_operands(node: Ast) -> Iterator[Ast]:
    """The operands of a chain of `|` (the node itself when it is no union)."""
    if isinstance(node, Binary) and node.op == "|":
        yield from union_operands(node.left)
        yield from union_operands(node.right)
    else:
        yield node


@dataclass(frozen=True)
class TypeOp:
    op: str
    operand: Ast
    type_name: str


@dataclass(frozen=True)
class Literal:
    value: Any
    type_code: str


@dataclass(frozen=True)
class Env:
    name: str


@dataclass(frozen=True)
class This:
    pass


Ast = Ident | Member | Call | Index | Binary | TypeOp | Literal | Env | This

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<number>\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`)
    |(?P<env>%(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'))
    |(?P<special>\$(?:this|index|total))
    |(?P<op><=|>=|!=|!~|[.()\[\],|=~<>+\-*/&])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n"}
_ESCAPES |= {"r": "\r", "t": "\t"}
_KEYWORD_OPS = frozenset({"and", "or", "xor", "implies", "is", "as", "in", "contains"})
_KEYWORD_OPS |= {"div", "mod"}
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"implies"}),
    frozenset({"or", "xor"}),
    frozenset({"and"}),
    frozenset({"in", "contains"}),
    frozenset({"=", "~", "!=", "!~"}),
    frozenset({"<", ">", "<=", ">="}),
    frozenset({"|"}),
    frozenset({"is", "as"}),
    frozenset({"+", "-", "&"}),
    frozenset({"*", "/", "div", "mod"}),
)


def _tokenize(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise Unsupported(f"unexpected character at {position}")
        position = match.end()
        if match.lastgroup != "space":
            yield match.lastgroup, match.group()
    yield "end", ""


def _unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
        elif body[index + 1] == "u":
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            out.append(_ESCAPES.get(body[index + 1], body[index + 1]))
            index += 2
    return "".join(out)


class Parser:
    """Precedence-climbing parser for FHIRPath expressions (no literals of dates/quantities)."""

    def __init__(self, text: str) -> None:
        self.tokens = list(_tokenize(text))
        self.index = 0

    def parse(self) -> Ast:
        node = self.binary(0)
        self.expect("end")
        return node

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index]

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> str:
        got_kind, got_text = self.take()
        if got_kind != kind or (text is not None and got_text != text):
            raise Unsupported(f"expected {text or kind}, got {got_text or got_kind}")
        return got_text

    def operator(self) -> str | None:
        kind, text = self.peek()
        if kind == "op" or (kind == "ident" and text in _KEYWORD_OPS):
            return text
        return None

    def binary(self, level: int) -> Ast:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.operator()) in _LEVELS[level]:
            self.take()
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> Ast:
        if self.operator() in ("+", "-"):
            raise Unsupported("polarity")
        node = self.term()
        while True:
            kind, text = self.peek()
            if kind == "op" and text == ".":
                self.take()
                name = self.name()
                if self.peek() == ("op", "("):
                    node = Call(node, name, self.arguments())
                else:
                    node = Member(node, name)
            elif kind == "op" and text == "[":
                self.take()
                node = Index(node, self.binary(0))
                self.expect("op", "]")
            else:
                return node

    def term(self) -> Ast:
        kind, text = self.peek()
        if kind == "ident":
            name = self.name()
            if self.peek() == ("op", "("):
                return Call(None, name, self.arguments())
            if text in ("true", "false"):
                return Literal(text == "true", "boolean")
            return Ident(name)
        self.take()
        if kind == "string":
            return Literal(_unquote(text), "string")
        if kind == "number":
            return Literal(float(text), "decimal") if "." in text else Literal(int(text), "integer")
        if kind == "env":
            name = text[1:]
            return Env(_unquote(name) if name[0] in "`'" else name)
        if kind == "special" and text == "$this":
            return This()
        if kind == "op" and text == "(":
            node = self.binary(0)
            self.expect("op", ")")
            return node
        raise Unsupported(f"unexpected {text or kind}")

    def name(self) -> str:
        text = self.expect("ident")
        return _unquote(text) if text.startswith("`") else text

    def arguments(self) -> tuple[Ast, ...]:
        self.expect("op", "(")
        args: list[Ast] = []
        if self.peek() != ("op", ")"):
            args.append(self.binary(0))
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.binary(0))
        self.expect("op", ")")
        return tuple(args)

    def type_specifier(self) -> str:
        name = self.name()
        if self.peek() == ("op", "."):
            self.take()
            name = f"{name}.{self.name()}"
        return name


def type_argument(node: Ast) -> str:
    """The type specifier given as a function argument (`ofType(FHIR.Quantity)`)."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Member) and isinstance(node.base, Ident):
        return f"{node.base.name}.{node.name}"
    raise Unsupported("type specifier expected")
