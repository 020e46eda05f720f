"""Static result types of an expression, to type what fhirpathpy returns."""

from __future__ import annotations

from tsunagu.search.fhirpath.schema import Schema
from tsunagu.search.fhirpath.syntax import (
    Ast,
    Binary,
    Call,
    Env,
    Ident,
    Index,
    Literal,
    Member,
    TypeOp,
    Unsupported,
    type_argument,
)

_SAME_TYPE_FUNCTIONS = frozenset(
    {"where", "first", "last", "tail", "single", "distinct", "skip", "take", "trace"}
)
_BOOLEAN_FUNCTIONS = frozenset(
    {"exists", "empty", "not", "hasValue", "is", "all", "allTrue", "anyTrue", "allFalse"}
    | {"anyFalse", "subsetOf", "supersetOf", "isDistinct", "hasExtension", "startsWith"}
    | {"endsWith", "matches", "memberOf", "subsumes", "subsumedBy", "conformsTo"}
)
_STRING_FUNCTIONS = frozenset(
    {"toString", "substring", "upper", "lower", "replace", "replaceMatches", "trim", "join"}
)
_INTEGER_FUNCTIONS = frozenset({"count", "length", "indexOf"})
_BOOLEAN_OPERATORS = frozenset(
    {"and", "or", "xor", "implies", "=", "!=", "~", "!~", "<", ">", "<=", ">="} | {"in", "contains"}
)
TypeKeys = frozenset[str]


class TypeInference:
    """Static result type keys of an expression (None: unknown), to type fhirpathpy results."""

    def __init__(self, schema: Schema, root_type: str) -> None:
        self.schema = schema
        self.root_type = root_type

    def infer(self, node: Ast, context: TypeKeys | None, top: bool) -> TypeKeys | None:
        is_a = self.schema.is_a
        if isinstance(node, Ident):
            if top and node.name[:1].isupper():
                if context is None:
                    return None
                return frozenset(key for key in context if is_a(key, node.name))
            return self.member(context, node.name)
        if isinstance(node, Member):
            return self.member(self.infer(node.base, context, top), node.name)
        if isinstance(node, Call):
            base = context if node.base is None else self.infer(node.base, context, top)
            return self.call(base, node)
        if isinstance(node, Index):
            return self.infer(node.base, context, top)
        if isinstance(node, Binary):
            if node.op in _BOOLEAN_OPERATORS:
                return frozenset({"boolean"})
            if node.op == "&":
                return frozenset({"string"})
            if node.op != "|":
                return None
            left = self.infer(node.left, context, top)
            right = self.infer(node.right, context, top)
            return None if left is None or right is None else left | right
        if isinstance(node, TypeOp):
            if node.op == "is":
                return frozenset({"boolean"})
            return self.of_type(self.infer(node.operand, context, top), node.type_name)
        if isinstance(node, Literal):
            return frozenset({node.type_code})
        if isinstance(node, Env):
            return frozenset({self.root_type}) if node.name == "resource" else None
        return context  # $this

    def member(self, keys: TypeKeys | None, name: str) -> TypeKeys | None:
        if keys is None:
            return None
        found: set[str] = set()
        for key in keys:
            for _json_name, child_key in self.schema.fields(key, name):
                if not child_key:
                    return None
                found.add(child_key)
        return frozenset(found)

    def call(self, base: TypeKeys | None, node: Call) -> TypeKeys | None:
        name = node.name
        if name in _SAME_TYPE_FUNCTIONS:
            return base
        if name in ("as", "ofType") and len(node.args) == 1:
            try:
                return self.of_type(base, type_argument(node.args[0]))
            except Unsupported:
                return None
        if name in _BOOLEAN_FUNCTIONS:
            return frozenset({"boolean"})
        if name in _INTEGER_FUNCTIONS:
            return frozenset({"integer"})
        if name in _STRING_FUNCTIONS:
            return frozenset({"string"})
        if name == "extension":
            return frozenset({"Extension"})
        return None

    def of_type(self, keys: TypeKeys | None, type_name: str) -> TypeKeys | None:
        if keys is None:
            plain = type_name.removeprefix("FHIR.")
            return frozenset({plain}) if self.schema.defs.is_type(plain) else None
        return frozenset(key for key in keys if self.schema.is_a(key, type_name))
