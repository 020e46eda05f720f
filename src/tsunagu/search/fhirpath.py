"""Compile FHIRPath search expressions into fast extractors of typed values.

R4 SearchParameter expressions use a small part of FHIRPath: member navigation from a type
name, choice elements, unions, `as`/`is`/`ofType`, `where(...)` with simple conditions,
`resolve()`, `extension(url)`, `first()`, indexers, `exists()`, `and`/`or`, `=`/`!=`.
That subset compiles once into plain Python closures over the JSON resource, typed by the
vendored element map. Any other expression runs on fhirpathpy (parsed once, then reused).

Deliberate choices where FHIRPath implementations differ:
- `x as T` filters each item (like `ofType(T)`) instead of failing on a collection of several
  items, as R4 search expressions such as `(X.useContext.value as Quantity)` need.
- `resolve()` cannot fetch resources: it yields the contained resource for `#id`, the
  resource itself for `#`, and otherwise a stub `{"resourceType": T}` whose type comes from
  the reference (`Patient/1`, `https://host/fhir/Patient/1/_history/2`), so that
  `resolve() is Patient` works; unresolvable references (`urn:uuid:`, logical) yield nothing.
- Type names not in the FHIR model are FHIRPath System types (`DateTime` matches FHIR
  `dateTime` and `instant` values).
- Primitive extensions (`_family`) are not values: they are never returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson

from tsunagu.fhir.definitions import Definitions, ElementInfo

# A node during evaluation: (JSON value, type key). The key is a FHIR type code
# (`HumanName`, `dateTime`, `Patient`), a backbone owner key (`Patient.contact`), or "" when
# the type is unknown.
Node = tuple[Any, str]
Root = Mapping[str, Any]
Fn = Callable[[list[Node], Root], list[Node]]

_RESOURCE_BASES = frozenset({"Resource", "DomainResource"})
_SYSTEM_TYPE_OF_PRIMITIVE = {
    "boolean": "Boolean",
    "integer": "Integer",
    "positiveInt": "Integer",
    "unsignedInt": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
}  # every other primitive is a System.String
_FHIR_TYPE_OF_SYSTEM = {
    "String": "string",
    "Boolean": "boolean",
    "Integer": "integer",
    "Decimal": "decimal",
    "Date": "date",
    "DateTime": "dateTime",
    "Time": "time",
    "Quantity": "Quantity",
}
_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


class FHIRPathError(ValueError):
    """An expression that cannot be compiled, or that failed on a resource."""


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One value an expression selected, with its FHIR type code (None if unknown)."""

    value: Any
    fhir_type: str | None
    # Owner key of a backbone element's children (`Observation.component`), else None.
    owner: str | None = None


class Extractor(Protocol):
    """A compiled expression: call it on a resource to get the values it selects."""

    expression: str
    fast: bool

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        ...

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        """Evaluate relative to `focus` (composite components), `resource` being `%resource`."""
        ...


def compile_path(expression: str, defs: Definitions, *, allow_fast: bool = True) -> Extractor:
    """Compile a FHIRPath expression; fast when in the search subset, else on fhirpathpy.

    `allow_fast=False` forces fhirpathpy (for comparisons and measurements).
    """
    schema = _Schema(defs)
    if not allow_fast:
        return _FallbackExtractor(expression, schema)
    return _compile(expression, schema)


class ExtractorCache:
    """Compiled extractors by expression, sharing type lookups (one per Definitions)."""

    def __init__(self, defs: Definitions) -> None:
        self._schema = _Schema(defs)
        self._extractors: dict[str, Extractor] = {}

    def get(self, expression: str) -> Extractor:
        """The extractor of `expression`, compiled on first use."""
        found = self._extractors.get(expression)
        if found is None:
            found = _compile(expression, self._schema)
            self._extractors[expression] = found
        return found

    def __len__(self) -> int:
        return len(self._extractors)


def reference_type(reference: str, defs: Definitions) -> str | None:
    """The resource type a literal reference or canonical URL names, if any."""
    match = _REFERENCE.search(reference.partition("|")[0])
    if match is None or not defs.is_resource_type(match.group(1)):
        return None
    return match.group(1)


def _compile(expression: str, schema: _Schema) -> Extractor:
    try:
        return _FastExtractor(expression, schema)
    except _Unsupported:
        return _FallbackExtractor(expression, schema)


# --------------------------------------------------------------------------- type lookups


class _Schema:
    """Cached type questions about the element map of one Definitions."""

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        # TypedValue's frozen __init__ costs about 1 µs; set its slots directly instead.
        slots = vars(TypedValue)
        self._set_value = slots["value"].__set__
        self._set_type = slots["fhir_type"].__set__
        self._set_owner = slots["owner"].__set__
        self._fields: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._is_a: dict[tuple[str, str], bool] = {}
        self._typing: dict[str, tuple[str | None, str | None]] = {}

    def fields(self, key: str, name: str) -> tuple[tuple[str, str], ...]:
        """(JSON name, child type key) pairs that member `name` selects on a `key` value."""
        found = self._fields.get((key, name))
        if found is None:
            found = self._fields[(key, name)] = self._find_fields(key, name)
        return found

    def _find_fields(self, key: str, name: str) -> tuple[tuple[str, str], ...]:
        elements = self.defs.element_types(key) if key else {}
        info = elements.get(name)
        if info is not None and info.choice_of is None:
            return ((name, _child_key(info)),)
        choices = tuple(
            (element.name, _child_key(element))
            for element in elements.values()
            if element.choice_of == name
        )
        if choices:
            return choices
        if info is not None:  # a concrete choice name such as `valueQuantity`
            return ((name, _child_key(info)),)
        return ((name, ""),)  # unknown type or element: plain lookup, type unknown

    def typing(self, key: str) -> tuple[str | None, str | None]:
        """(FHIR type code, backbone owner key) of a type key."""
        found = self._typing.get(key)
        if found is None:
            found = self._typing[key] = self._find_typing(key)
        return found

    def _find_typing(self, key: str) -> tuple[str | None, str | None]:
        if not key:
            return None, None
        if "." not in key:
            return key, None
        parent, _, name = key.rpartition(".")
        info = self.defs.element_types(parent).get(name)
        return (info.types[0] if info is not None else None), key

    def is_a(self, key: str, type_name: str) -> bool:
        """True if a value of type key `key` is of type `type_name` (`FHIR.X`/`System.X`)."""
        found = self._is_a.get((key, type_name))
        if found is None:
            found = self._is_a[(key, type_name)] = self._find_is_a(key, type_name)
        return found

    def _find_is_a(self, key: str, type_name: str) -> bool:
        namespace, _, name = type_name.rpartition(".")
        fhir_type = self.typing(key)[0]
        if fhir_type is None:
            return False
        if namespace == "FHIR" or (not namespace and self.defs.is_type(name)):
            return fhir_type == name or self.defs.is_subtype(fhir_type, name)
        if namespace in ("", "System"):
            if self.defs.is_primitive(fhir_type):
                return _SYSTEM_TYPE_OF_PRIMITIVE.get(fhir_type, "String") == name
            return name == "Quantity" and self.defs.is_subtype(fhir_type, "Quantity")
        return False

    def typed(self, nodes: list[Node]) -> list[TypedValue]:
        """Public typed values of evaluation nodes."""
        cached, new = self._typing, object.__new__
        set_value, set_type, set_owner = self._set_value, self._set_type, self._set_owner
        out: list[TypedValue] = []
        for value, key in nodes:
            typing = cached.get(key) or self.typing(key)
            typed = new(TypedValue)
            set_value(typed, value)
            set_type(typed, typing[0])
            set_owner(typed, typing[1])
            out.append(typed)
        return out

    def resolve(self, value: Any, root: Root) -> Node | None:
        """The node a Reference (or canonical) resolves to; None if it cannot."""
        reference = value.get("reference") if isinstance(value, dict) else value
        if not isinstance(reference, str):
            return None
        if reference.startswith("#"):
            if reference == "#":
                return root, _resource_key(root)
            for contained in root.get("contained", ()):
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return contained, _resource_key(contained)
            return None
        target = reference_type(reference, self.defs)
        return None if target is None else ({"resourceType": target}, target)


def _child_key(info: ElementInfo) -> str:
    if info.owner is not None:
        return info.owner
    code = info.types[0]
    return "" if code in _RESOURCE_BASES else code  # "": typed by resourceType at runtime


def _resource_key(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("resourceType")
        if isinstance(kind, str):
            return kind
    return ""


# --------------------------------------------------------------------------------- parser


class _Unsupported(Exception):
    """Outside the compiled subset (including syntax the small parser does not know)."""


@dataclass(frozen=True)
class _Ident:
    name: str


@dataclass(frozen=True)
class _Member:
    base: _Ast
    name: str


@dataclass(frozen=True)
class _Call:
    base: _Ast | None
    name: str
    args: tuple[_Ast, ...]


@dataclass(frozen=True)
class _Index:
    base: _Ast
    index: _Ast


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Ast
    right: _Ast


@dataclass(frozen=True)
class _TypeOp:
    op: str
    operand: _Ast
    type_name: str


@dataclass(frozen=True)
class _Literal:
    value: Any
    type_code: str


@dataclass(frozen=True)
class _Env:
    name: str


@dataclass(frozen=True)
class _This:
    pass


_Ast = _Ident | _Member | _Call | _Index | _Binary | _TypeOp | _Literal | _Env | _This

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
            raise _Unsupported(f"unexpected character at {position}")
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


class _Parser:
    """Precedence-climbing parser for FHIRPath expressions (no literals of dates/quantities)."""

    def __init__(self, text: str) -> None:
        self.tokens = list(_tokenize(text))
        self.index = 0

    def parse(self) -> _Ast:
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
            raise _Unsupported(f"expected {text or kind}, got {got_text or got_kind}")
        return got_text

    def operator(self) -> str | None:
        kind, text = self.peek()
        if kind == "op" or (kind == "ident" and text in _KEYWORD_OPS):
            return text
        return None

    def binary(self, level: int) -> _Ast:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.operator()) in _LEVELS[level]:
            self.take()
            if op in ("is", "as"):
                left = _TypeOp(op, left, self.type_specifier())
            else:
                left = _Binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> _Ast:
        if self.operator() in ("+", "-"):
            raise _Unsupported("polarity")
        node = self.term()
        while True:
            kind, text = self.peek()
            if kind == "op" and text == ".":
                self.take()
                name = self.name()
                if self.peek() == ("op", "("):
                    node = _Call(node, name, self.arguments())
                else:
                    node = _Member(node, name)
            elif kind == "op" and text == "[":
                self.take()
                node = _Index(node, self.binary(0))
                self.expect("op", "]")
            else:
                return node

    def term(self) -> _Ast:
        kind, text = self.peek()
        if kind == "ident":
            name = self.name()
            if self.peek() == ("op", "("):
                return _Call(None, name, self.arguments())
            if text in ("true", "false"):
                return _Literal(text == "true", "boolean")
            return _Ident(name)
        self.take()
        if kind == "string":
            return _Literal(_unquote(text), "string")
        if kind == "number":
            return (
                _Literal(float(text), "decimal") if "." in text else _Literal(int(text), "integer")
            )
        if kind == "env":
            name = text[1:]
            return _Env(_unquote(name) if name[0] in "`'" else name)
        if kind == "special" and text == "$this":
            return _This()
        if kind == "op" and text == "(":
            node = self.binary(0)
            self.expect("op", ")")
            return node
        raise _Unsupported(f"unexpected {text or kind}")

    def name(self) -> str:
        text = self.expect("ident")
        return _unquote(text) if text.startswith("`") else text

    def arguments(self) -> tuple[_Ast, ...]:
        self.expect("op", "(")
        args: list[_Ast] = []
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


def _type_name(node: _Ast) -> str:
    """The type specifier given as a function argument (`ofType(FHIR.Quantity)`)."""
    if isinstance(node, _Ident):
        return node.name
    if isinstance(node, _Member) and isinstance(node.base, _Ident):
        return f"{node.base.name}.{node.name}"
    raise _Unsupported("type specifier expected")


# ------------------------------------------------------------------------------- compiler


def _nothing(items: list[Node], root: Root) -> list[Node]:
    """Statically empty: a branch for another resource type."""
    return []


def _identity(items: list[Node], root: Root) -> list[Node]:
    return items


class _Compiler:
    """Turns an AST into closures; with `root_type` set, prunes branches for other types."""

    def __init__(self, schema: _Schema, root_type: str | None) -> None:
        self.schema = schema
        self.root_type = root_type

    def compile(self, node: _Ast, top: bool) -> Fn:
        """Closure of `node`; `top`: not inside a function argument, so a capitalized root
        identifier is a type name (`Patient.name`), not a member of the focus."""
        if isinstance(node, _Ident):
            if top and node.name[:1].isupper():
                return self.type_root(node.name)
            return self.member(_identity, node.name)
        if isinstance(node, _Member):
            base = self.compile(node.base, top)
            return _nothing if base is _nothing else self.member(base, node.name)
        if isinstance(node, _Call):
            if node.name in ("as", "ofType") and len(node.args) == 1 and node.base is not None:
                return self.selection(node.base, _type_name(node.args[0]), top)
            base = _identity if node.base is None else self.compile(node.base, top)
            return self.call(base, node.name, node.args)
        if isinstance(node, _Index):
            return self.indexer(self.compile(node.base, top), node.index)
        if isinstance(node, _Binary):
            return self.binary(node, top)
        if isinstance(node, _TypeOp):
            if node.op == "as":
                return self.selection(node.operand, node.type_name, top)
            return self.is_type(self.compile(node.operand, top), node.type_name)
        if isinstance(node, _Literal):
            constant = [(node.value, node.type_code)]
            return lambda items, root: list(constant)
        if isinstance(node, _Env):
            if node.name in ("resource", "rootResource"):
                return lambda items, root: [(root, _resource_key(root))]
            raise _Unsupported(f"%{node.name}")
        return _identity  # $this

    def type_root(self, name: str) -> Fn:
        """`Patient` at the root of a path: the context if it is of that type."""
        schema = self.schema
        if self.root_type is not None:
            return _identity if schema.is_a(self.root_type, name) else _nothing

        def run(items: list[Node], root: Root) -> list[Node]:
            return [node for node in items if schema.is_a(node[1], name)]

        return run

    def member(self, base: Fn, name: str, type_name: str | None = None) -> Fn:
        """Children `name` of each item; with `type_name`, only those of that type (`as`)."""
        schema = self.schema
        is_a = schema.is_a
        cache: dict[str, tuple[tuple[str, str], ...]] = {}

        def fields(key: str) -> tuple[tuple[str, str], ...]:
            found = schema.fields(key, name)
            if type_name is not None:  # static types need no check at runtime
                found = tuple(f for f in found if not f[1] or is_a(f[1], type_name))
            return found

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for value, key in base(items, root):
                if not isinstance(value, dict):
                    continue
                found = cache.get(key)
                if found is None:
                    found = cache[key] = fields(key)
                for json_name, child_key in found:
                    child = value.get(json_name)
                    if child is None:
                        continue
                    if not child_key:  # a resource (or unknown): typed by resourceType
                        for item in child if isinstance(child, list) else (child,):
                            item_key = _resource_key(item)
                            if item is not None and (
                                type_name is None or is_a(item_key, type_name)
                            ):
                                out.append((item, item_key))
                    elif isinstance(child, list):
                        out.extend([(item, child_key) for item in child if item is not None])
                    else:
                        out.append((child, child_key))
            return out

        return run

    def selection(self, operand: _Ast, type_name: str, top: bool) -> Fn:
        """`operand as T` / `operand.ofType(T)`, filtering inside the member step if possible."""
        if isinstance(operand, _Member):
            base = self.compile(operand.base, top)
            return _nothing if base is _nothing else self.member(base, operand.name, type_name)
        if isinstance(operand, _Ident) and not (top and operand.name[:1].isupper()):
            return self.member(_identity, operand.name, type_name)
        return self.of_type(self.compile(operand, top), type_name)

    def call(self, base: Fn, name: str, args: tuple[_Ast, ...]) -> Fn:
        arity = len(args)
        if name == "where" and arity == 1:
            return self.where(base, args[0])
        if name in ("as", "ofType") and arity == 1:
            return self.of_type(base, _type_name(args[0]))
        if name == "is" and arity == 1:
            return self.is_type(base, _type_name(args[0]))
        if name == "extension" and arity == 1:
            return self.extension(base, args[0])
        if name == "hasExtension" and arity == 1:  # not FHIRPath, but used by R4 expressions
            return self.call(self.extension(base, args[0]), "exists", ())
        if name == "exists" and arity == 1:
            return self.call(self.where(base, args[0]), "exists", ())
        if name == "select" and arity == 1:
            return self.select(base, args[0])
        if arity == 0 and name in _SIMPLE_FUNCTIONS:
            if base is _nothing and name in _EMPTY_ON_EMPTY:
                return _nothing
            return _apply(base, _SIMPLE_FUNCTIONS[name])
        if arity == 0 and name == "resolve":
            return _nothing if base is _nothing else self.resolve(base)
        raise _Unsupported(f"function {name}/{arity}")

    def where(self, base: Fn, condition: _Ast) -> Fn:
        if base is _nothing:
            return _nothing
        schema = self.schema
        if (
            isinstance(condition, _TypeOp)
            and condition.op == "is"
            and condition.operand == _Call(None, "resolve", ())
        ):
            type_name = condition.type_name

            def resolves_to(items: list[Node], root: Root) -> list[Node]:
                out: list[Node] = []
                for node in base(items, root):
                    target = schema.resolve(node[0], root)
                    if target is not None and schema.is_a(target[1], type_name):
                        out.append(node)
                return out

            return resolves_to
        if (
            isinstance(condition, _Binary)
            and condition.op == "="
            and isinstance(condition.right, _Literal)
            and isinstance(condition.left, _Ident | _Member)
        ):
            return self.where_equals(base, condition.left, condition.right.value)
        test = self.compile(condition, top=False)

        def run(items: list[Node], root: Root) -> list[Node]:
            return [node for node in base(items, root) if _criterion(test([node], root))]

        return run

    def where_equals(self, base: Fn, path: _Ast, literal: Any) -> Fn:
        """`where(system = 'phone')`: a single value equal to the literal."""
        select = self.compile(path, top=False)

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for node in base(items, root):
                found = select([node], root)
                if len(found) == 1 and _values_equal(found[0][0], literal):
                    out.append(node)
            return out

        return run

    def select(self, base: Fn, projection: _Ast) -> Fn:
        if base is _nothing:
            return _nothing
        project = self.compile(projection, top=False)

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for node in base(items, root):
                out.extend(project([node], root))
            return out

        return run

    def of_type(self, base: Fn, type_name: str) -> Fn:
        if base is _nothing:
            return _nothing
        is_a = self.schema.is_a

        def run(items: list[Node], root: Root) -> list[Node]:
            return [node for node in base(items, root) if is_a(node[1], type_name)]

        return run

    def is_type(self, base: Fn, type_name: str) -> Fn:
        is_a = self.schema.is_a

        def run(items: list[Node], root: Root) -> list[Node]:
            found = base(items, root)
            if not found:
                return []
            if len(found) > 1:
                raise FHIRPathError(f"'is {type_name}' needs a single item, got {len(found)}")
            return [(is_a(found[0][1], type_name), "boolean")]

        return run

    def extension(self, base: Fn, url_node: _Ast) -> Fn:
        if not isinstance(url_node, _Literal) or not isinstance(url_node.value, str):
            raise _Unsupported("extension() with a computed url")
        if base is _nothing:
            return _nothing
        url = url_node.value

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for value, _key in base(items, root):
                if isinstance(value, dict):
                    for extension in value.get("extension", ()):
                        if isinstance(extension, dict) and extension.get("url") == url:
                            out.append((extension, "Extension"))
            return out

        return run

    def resolve(self, base: Fn) -> Fn:
        resolve = self.schema.resolve

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for value, _key in base(items, root):
                target = resolve(value, root)
                if target is not None:
                    out.append(target)
            return out

        return run

    def indexer(self, base: Fn, index_node: _Ast) -> Fn:
        if not isinstance(index_node, _Literal) or index_node.type_code != "integer":
            raise _Unsupported("computed index")
        if base is _nothing:
            return _nothing
        index: int = index_node.value

        def run(items: list[Node], root: Root) -> list[Node]:
            found = base(items, root)
            return [found[index]] if index < len(found) else []

        return run

    def binary(self, node: _Binary, top: bool) -> Fn:
        if node.op == "|":
            branches = [self.compile(operand, top) for operand in _union_operands(node)]
            live = [branch for branch in branches if branch is not _nothing]
            return _union(live) if live else _nothing
        left = self.compile(node.left, top)
        right = self.compile(node.right, top)
        combine = _OPERATORS.get(node.op)
        if combine is None:
            raise _Unsupported(f"operator {node.op}")

        def run(items: list[Node], root: Root) -> list[Node]:
            return combine(left(items, root), right(items, root))

        return run


def _union_operands(node: _Ast) -> Iterator[_Ast]:
    if isinstance(node, _Binary) and node.op == "|":
        yield from _union_operands(node.left)
        yield from _union_operands(node.right)
    else:
        yield node


def _union(branches: list[Fn]) -> Fn:
    def run(items: list[Node], root: Root) -> list[Node]:
        out: list[Node] = []
        for branch in branches:
            out.extend(branch(items, root))
        return _distinct(out)

    return run


def _apply(base: Fn, function: Callable[[list[Node]], list[Node]]) -> Fn:
    def run(items: list[Node], root: Root) -> list[Node]:
        return function(base(items, root))

    return run


# ------------------------------------------------------------------------- runtime helpers


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


def _distinct(nodes: list[Node]) -> list[Node]:
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


def _criterion(nodes: list[Node]) -> bool:
    """A `where` criterion holds (the first item is true or a non-Boolean value)."""
    return bool(nodes) and nodes[0][0] is not False


def _boolean(value: bool | None) -> list[Node]:
    return [] if value is None else [(value, "boolean")]


def _values_equal(left: Any, right: Any) -> bool:
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
    return all(_values_equal(a[0], b[0]) for a, b in zip(left, right, strict=True))


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


_OPERATORS: dict[str, Callable[[list[Node], list[Node]], list[Node]]] = {
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


_SIMPLE_FUNCTIONS: dict[str, Callable[[list[Node]], list[Node]]] = {
    "exists": lambda nodes: _boolean(bool(nodes)),
    "empty": lambda nodes: _boolean(not nodes),
    "not": _fn_not,
    "hasValue": _fn_has_value,
    "count": lambda nodes: [(len(nodes), "integer")],
    "first": lambda nodes: nodes[:1],
    "last": lambda nodes: nodes[-1:],
    "tail": lambda nodes: nodes[1:],
    "distinct": _distinct,
}
_EMPTY_ON_EMPTY = frozenset({"first", "last", "tail", "distinct"})


# ------------------------------------------------------------------------ type inference

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


class _TypeInference:
    """Static result type keys of an expression (None: unknown), to type fhirpathpy results."""

    def __init__(self, schema: _Schema, root_type: str) -> None:
        self.schema = schema
        self.root_type = root_type

    def infer(self, node: _Ast, context: TypeKeys | None, top: bool) -> TypeKeys | None:
        is_a = self.schema.is_a
        if isinstance(node, _Ident):
            if top and node.name[:1].isupper():
                if context is None:
                    return None
                return frozenset(key for key in context if is_a(key, node.name))
            return self.member(context, node.name)
        if isinstance(node, _Member):
            return self.member(self.infer(node.base, context, top), node.name)
        if isinstance(node, _Call):
            base = context if node.base is None else self.infer(node.base, context, top)
            return self.call(base, node)
        if isinstance(node, _Index):
            return self.infer(node.base, context, top)
        if isinstance(node, _Binary):
            if node.op in _BOOLEAN_OPERATORS:
                return frozenset({"boolean"})
            if node.op == "&":
                return frozenset({"string"})
            if node.op != "|":
                return None
            left = self.infer(node.left, context, top)
            right = self.infer(node.right, context, top)
            return None if left is None or right is None else left | right
        if isinstance(node, _TypeOp):
            if node.op == "is":
                return frozenset({"boolean"})
            return self.of_type(self.infer(node.operand, context, top), node.type_name)
        if isinstance(node, _Literal):
            return frozenset({node.type_code})
        if isinstance(node, _Env):
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

    def call(self, base: TypeKeys | None, node: _Call) -> TypeKeys | None:
        name = node.name
        if name in _SAME_TYPE_FUNCTIONS:
            return base
        if name in ("as", "ofType") and len(node.args) == 1:
            try:
                return self.of_type(base, _type_name(node.args[0]))
            except _Unsupported:
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


class _SyntaxErrors:
    """ANTLR error listener raising on syntax errors (fhirpathpy's parser recovers silently)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def syntaxError(self, *args: Any) -> None:
        """Reject the expression; args are (recognizer, symbol, line, column, message, error)."""
        raise FHIRPathError(f"invalid FHIRPath {self.expression!r} at {args[3]}: {args[4]}")

    def reportAmbiguity(self, *args: Any) -> None:
        """Ambiguities are resolved by the grammar; nothing to report."""

    def reportAttemptingFullContext(self, *args: Any) -> None:
        """Full-context prediction is normal; nothing to report."""

    def reportContextSensitivity(self, *args: Any) -> None:
        """Context sensitivity is normal; nothing to report."""


class _Engine:
    """fhirpathpy, imported on first use: the import takes about 0.3 s (it loads its models)
    and only expressions outside the compiled subset need it. All of it is untyped."""

    def __init__(self) -> None:
        import antlr4  # type: ignore[import-untyped]
        import fhirpathpy
        from fhirpathpy.engine import nodes
        from fhirpathpy.models import models
        from fhirpathpy.parser import parse
        from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
        from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

        self.antlr4: Any = antlr4
        self.apply: Any = fhirpathpy.apply_parsed_path
        self.nodes: Any = nodes
        self.model: Any = models["r4"]
        self.parse: Any = parse  # what fhirpathpy.compile() runs, without binding options
        self.lexer: Any = FHIRPathLexer
        self.parser: Any = FHIRPathParser

    def node(self, value: Any, type_key: str | None) -> Any:
        """A fhirpathpy node holding a value and its type (path)."""
        return self.nodes.ResourceNode.create_node(value, type_key)


def _check_syntax(expression: str, engine: _Engine) -> None:
    """Raise FHIRPathError unless the whole expression is valid FHIRPath."""
    listener = _SyntaxErrors(expression)
    lexer = engine.lexer(engine.antlr4.InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens = engine.antlr4.CommonTokenStream(lexer)
    parser = engine.parser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.expression()
    if tokens.LA(1) != engine.antlr4.Token.EOF:
        raise FHIRPathError(f"invalid FHIRPath {expression!r}: unexpected trailing input")


def _as_to_of_type(node: Any) -> Any:
    """A fhirpathpy parse tree with `x as T` and `x.as(T)` rewritten to `x.ofType(T)`.

    fhirpathpy rejects `as` on several items; the compiled subset filters each (see above).
    """
    if isinstance(node, list):
        return [_as_to_of_type(child) for child in node]
    if not isinstance(node, dict):
        return node
    node = {key: _as_to_of_type(value) for key, value in node.items()}
    kind, children = node.get("type"), node.get("children") or []
    if kind == "TypeExpression" and node.get("terminalNodeText") == ["as"] and len(children) == 2:
        operand, specifier = children
        return {
            "type": "InvocationExpression",
            "terminalNodeText": ["."],
            "text": node.get("text"),
            "children": [operand, _function_node("ofType", specifier)],
        }
    if kind == "Functn" and children and children[0].get("text") == "as":
        node["children"] = [{**children[0], "text": "ofType", "terminalNodeText": ["ofType"]}]
        node["children"] += children[1:]
    return node


def _function_node(name: str, argument: Any) -> Any:
    """A fhirpathpy parse tree node invoking `name(argument)`."""
    identifier = {"type": "Identifier", "terminalNodeText": [name], "text": name}
    parameters = {"type": "ParamList", "terminalNodeText": [], "children": [argument]}
    function = {
        "type": "Functn",
        "terminalNodeText": ["(", ")"],
        "children": [identifier, parameters],
    }
    return {"type": "FunctionInvocation", "terminalNodeText": [], "children": [function]}


def _value_types(resource: Mapping[str, Any], schema: _Schema) -> dict[int, str]:
    """Type key of every object and string inside a resource, by identity ("" if ambiguous)."""
    found: dict[int, str] = {}
    stack: list[tuple[Mapping[str, Any], str]] = [(resource, _resource_key(resource))]
    while stack:
        value, key = stack.pop()
        for name, child in value.items():
            if name.startswith("_"):
                continue
            child_key = schema.fields(key, name)[0][1]
            for item in child if isinstance(child, list) else (child,):
                if isinstance(item, dict):
                    item_key = child_key or _resource_key(item)
                    found[id(item)] = item_key
                    stack.append((item, item_key))
                elif isinstance(item, str):  # the same str object may sit in several places
                    known = found.setdefault(id(item), child_key)
                    if known != child_key:
                        found[id(item)] = ""
    return found


def _specialise_roots(node: Any, resource_type: str, defs: Definitions) -> Any:
    """The fhirpathpy tree with root type names the resource specializes (`Resource.id`)
    renamed to its type: fhirpathpy only matches a root type name exactly."""
    if isinstance(node, list):
        return [_specialise_roots(child, resource_type, defs) for child in node]
    if not isinstance(node, dict) or node.get("type") == "ParamList":
        return node  # function arguments start from $this, not from the resource
    if node.get("type") == "TermExpression":
        identifier = _root_identifier(node)
        name = identifier.get("text") if identifier is not None else None
        if (
            identifier is not None
            and isinstance(name, str)
            and name != resource_type
            and defs.is_subtype(resource_type, name)
        ):
            renamed = {**identifier, "text": resource_type, "terminalNodeText": [resource_type]}
            member = {**node["children"][0]["children"][0], "children": [renamed]}
            term = {**node["children"][0], "children": [member]}
            return {**node, "children": [term]}
    return {key: _specialise_roots(value, resource_type, defs) for key, value in node.items()}


def _root_identifier(term: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The identifier of a `TermExpression > InvocationTerm > MemberInvocation` chain."""
    node: Any = term
    for kind in ("InvocationTerm", "MemberInvocation", "Identifier"):
        children = node.get("children") or []
        if len(children) != 1 or not isinstance(children[0], dict):
            return None
        node = children[0]
        if node.get("type") != kind:
            return None
    return dict(node)


# ------------------------------------------------------------------------------ extractors


class _FastExtractor:
    """An expression in the compiled subset; plans are specialised per resource type."""

    fast = True

    def __init__(self, expression: str, schema: _Schema) -> None:
        self.expression = expression
        self._schema = schema
        self._ast = _Parser(expression).parse()
        self._generic = _Compiler(schema, None).compile(self._ast, top=True)
        self._plans: dict[str, Fn] = {}

    def __repr__(self) -> str:
        return f"<fast extractor {self.expression!r}>"

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            kind = ""
        plan = self._plans.get(kind)
        if plan is None:
            if not self._schema.defs.is_resource_type(kind):
                plan = self._generic
            else:
                plan = self._plans[kind] = _Compiler(self._schema, kind).compile(self._ast, True)
        return self._schema.typed(plan([(resource, kind)], resource))

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        """Evaluate relative to `focus` (composite components), `resource` being `%resource`."""
        nodes = [(item.value, item.owner or item.fhir_type or "") for item in focus]
        return self._schema.typed(self._generic(nodes, resource))


class _FallbackExtractor:
    """An expression outside the subset, evaluated by fhirpathpy (parsed once)."""

    fast = False

    def __init__(self, expression: str, schema: _Schema) -> None:
        self.expression = expression
        self._schema = schema
        self._engine = engine = _Engine()
        _check_syntax(expression, engine)
        try:
            self._parsed = _as_to_of_type(engine.parse(expression))
        except Exception as exc:
            raise FHIRPathError(f"invalid FHIRPath {expression!r}: {exc}") from exc
        try:
            self._ast: _Ast | None = _Parser(expression).parse()
        except _Unsupported:
            self._ast = None
        self._inferred: dict[tuple[str, TypeKeys], TypeKeys | None] = {}
        self._by_type: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<fhirpathpy extractor {self.expression!r}>"

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        kind = _resource_key(resource)
        tree = self._by_type.get(kind)
        if tree is None:
            tree = self._parsed
            if self._schema.defs.is_resource_type(kind):
                tree = _specialise_roots(self._parsed, kind, self._schema.defs)
                self._by_type[kind] = tree
        return self._run(tree, resource, resource, frozenset({kind}))

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        """Evaluate relative to `focus` (composite components), `resource` being `%resource`."""
        keys = [t.owner or t.fhir_type for t in focus]
        node = self._engine.node
        nodes = [node(t.value, key) for t, key in zip(focus, keys, strict=True)]
        return self._run(self._parsed, nodes, resource, frozenset(key or "" for key in keys))

    def _result_types(self, resource: Mapping[str, Any], context: TypeKeys) -> TypeKeys | None:
        """Statically inferred type keys of the results (None: unknown)."""
        if self._ast is None or "" in context:
            return None
        kind = _resource_key(resource)
        cache_key = (kind, context)
        if cache_key not in self._inferred:
            inference = _TypeInference(self._schema, kind)
            self._inferred[cache_key] = inference.infer(self._ast, context, top=True)
        return self._inferred[cache_key]

    def _run(
        self, tree: Any, data: Any, resource: Mapping[str, Any], context: TypeKeys
    ) -> list[TypedValue]:
        schema, engine = self._schema, self._engine
        resource_node = engine.nodes.ResourceNode

        def resolve(values: list[Any]) -> list[Any]:
            out = []
            for value in values:
                target = schema.resolve(value, resource)
                if target is not None:
                    out.append(engine.node(*target))
            return out

        # resolve() needs this resource (contained targets), so options are made per call.
        options: dict[str, Any] = {
            "returnRawData": True,
            "userInvocationTable": {"resolve": {"fn": resolve}},
        }
        variables = {"resource": resource, "rootResource": resource}
        try:
            result = engine.apply(data, tree, variables, engine.model, options)
        except Exception as exc:
            raise FHIRPathError(f"{self.expression!r} failed: {exc}") from exc
        inferred = self._result_types(resource, context)
        origins: dict[int, str] | None = None
        out: list[TypedValue] = []
        for item in result:
            if isinstance(item, resource_node) and item.path is None and item.data is not None:
                # Unions lose fhirpathpy's types: find where the value sits in the resource.
                if origins is None:
                    origins = _value_types(resource, self._schema)
                key = origins.get(id(item.data)) or self._guess_key(item.data, inferred)
                if key is not None:
                    out.append(TypedValue(item.data, *self._schema.typing(key)))
                    continue
            value = self._typed(item)
            if value is not None:
                out.append(value)
        return out

    def _typed(self, item: Any) -> TypedValue | None:
        nodes = self._engine.nodes
        if isinstance(item, nodes.ResourceNode):
            return self._typed_node(item.data, item.path)
        if isinstance(item, bool):
            return TypedValue(item, "boolean")
        if isinstance(item, int):
            return TypedValue(item, "integer")
        if isinstance(item, Decimal | float):
            return TypedValue(float(item), "decimal")
        if isinstance(item, nodes.FP_Quantity):
            return TypedValue({"value": float(item.value), "unit": item.unit}, "Quantity")
        if isinstance(item, nodes.FP_Time):
            return TypedValue(str(item), "time")
        if isinstance(item, nodes.FP_DateTime):
            return TypedValue(str(item), "dateTime")
        if isinstance(item, str):
            return TypedValue(item, "string")
        return None if item is None else TypedValue(item, None)

    def _guess_key(self, value: Any, inferred: TypeKeys | None) -> str | None:
        """The one inferred type key that fits the shape of `value`, if there is one."""
        kind = _resource_key(value)
        if kind or inferred is None:
            return kind or None
        is_primitive = self._schema.defs.is_primitive
        fitting = [
            key
            for key in inferred
            if is_primitive(self._schema.typing(key)[0] or "") != isinstance(value, dict)
        ]
        return fitting[0] if len(fitting) == 1 else None

    def _typed_node(self, value: Any, path: str | None) -> TypedValue | None:
        if value is None:
            return None
        defs = self._schema.defs
        if path is None or path == "Resource":
            kind = _resource_key(value)
            return TypedValue(value, kind or None)
        if path.startswith("System."):
            return TypedValue(value, _FHIR_TYPE_OF_SYSTEM.get(path[7:]))
        if "." in path:
            fhir_type, owner = self._schema.typing(path)
            return TypedValue(value, fhir_type, owner if owner in defs.element_specs else None)
        if defs.is_primitive(path) and isinstance(value, dict):
            return None  # the extension of a primitive (`_family`), not a value
        return TypedValue(value, path if defs.is_type(path) else None)
