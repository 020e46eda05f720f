"""The fast path: an AST in the search subset compiled into closures over JSON resources."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tsunagu.search.fhirpath.keys import Keys, branch_keys, start_keys
from tsunagu.search.fhirpath.runtime import (
    EMPTY_ON_EMPTY,
    OPERATORS,
    SIMPLE_FUNCTIONS,
    criterion,
    distinct,
    values_equal,
)
from tsunagu.search.fhirpath.schema import Schema, resource_key
from tsunagu.search.fhirpath.syntax import (
    Ast,
    Binary,
    Call,
    Env,
    Ident,
    Index,
    Literal,
    Member,
    Parser,
    TypeOp,
    Unsupported,
    type_argument,
    union_operands,
)
from tsunagu.search.fhirpath.values import FHIRPathError, Node, Root, TypedValue

Fn = Callable[[list[Node], Root], list[Node]]


def _nothing(items: list[Node], root: Root) -> list[Node]:
    """Statically empty: a branch for another resource type."""
    return []


def _identity(items: list[Node], root: Root) -> list[Node]:
    return items


class Compiler:
    """Turns an AST into closures; with `root_type` set, prunes branches for other types."""

    def __init__(self, schema: Schema, root_type: str | None) -> None:
        self.schema = schema
        self.root_type = root_type

    def compile(self, node: Ast, top: bool) -> Fn:
        """Closure of `node`; `top`: not inside a function argument, so a capitalized root
        identifier is a type name (`Patient.name`), not a member of the focus."""
        if isinstance(node, Ident):
            if top and node.name[:1].isupper():
                return self.type_root(node.name)
            return self.member(_identity, node.name)
        if isinstance(node, Member):
            base = self.compile(node.base, top)
            return _nothing if base is _nothing else self.member(base, node.name)
        if isinstance(node, Call):
            if node.name in ("as", "ofType") and len(node.args) == 1 and node.base is not None:
                return self.selection(node.base, type_argument(node.args[0]), top)
            base = _identity if node.base is None else self.compile(node.base, top)
            return self.call(base, node.name, node.args)
        if isinstance(node, Index):
            return self.indexer(self.compile(node.base, top), node.index)
        if isinstance(node, Binary):
            return self.binary(node, top)
        if isinstance(node, TypeOp):
            if node.op == "as":
                return self.selection(node.operand, node.type_name, top)
            return self.is_type(self.compile(node.operand, top), node.type_name)
        if isinstance(node, Literal):
            constant = [(node.value, node.type_code)]
            return lambda items, root: list(constant)
        if isinstance(node, Env):
            if node.name in ("resource", "rootResource"):
                return lambda items, root: [(root, resource_key(root))]
            raise Unsupported(f"%{node.name}")
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
                            item_key = resource_key(item)
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

    def selection(self, operand: Ast, type_name: str, top: bool) -> Fn:
        """`operand as T` / `operand.ofType(T)`, filtering inside the member step if possible."""
        if isinstance(operand, Member):
            base = self.compile(operand.base, top)
            return _nothing if base is _nothing else self.member(base, operand.name, type_name)
        if isinstance(operand, Ident) and not (top and operand.name[:1].isupper()):
            return self.member(_identity, operand.name, type_name)
        return self.of_type(self.compile(operand, top), type_name)

    def call(self, base: Fn, name: str, args: tuple[Ast, ...]) -> Fn:
        arity = len(args)
        if name == "where" and arity == 1:
            return self.where(base, args[0])
        if name in ("as", "ofType") and arity == 1:
            return self.of_type(base, type_argument(args[0]))
        if name == "is" and arity == 1:
            return self.is_type(base, type_argument(args[0]))
        if name == "extension" and arity == 1:
            return self.extension(base, args[0])
        if name == "hasExtension" and arity == 1:  # not FHIRPath, but used by R4 expressions
            return self.call(self.extension(base, args[0]), "exists", ())
        if name == "exists" and arity == 1:
            return self.call(self.where(base, args[0]), "exists", ())
        if name == "select" and arity == 1:
            return self.select(base, args[0])
        if arity == 0 and name in SIMPLE_FUNCTIONS:
            if base is _nothing and name in EMPTY_ON_EMPTY:
                return _nothing
            return _apply(base, SIMPLE_FUNCTIONS[name])
        if arity == 0 and name == "resolve":
            return _nothing if base is _nothing else self.resolve(base)
        raise Unsupported(f"function {name}/{arity}")

    def where(self, base: Fn, condition: Ast) -> Fn:
        if base is _nothing:
            return _nothing
        schema = self.schema
        if (
            isinstance(condition, TypeOp)
            and condition.op == "is"
            and condition.operand == Call(None, "resolve", ())
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
            isinstance(condition, Binary)
            and condition.op == "="
            and isinstance(condition.right, Literal)
            and isinstance(condition.left, Ident | Member)
        ):
            return self.where_equals(base, condition.left, condition.right.value)
        test = self.compile(condition, top=False)

        def run(items: list[Node], root: Root) -> list[Node]:
            return [node for node in base(items, root) if criterion(test([node], root))]

        return run

    def where_equals(self, base: Fn, path: Ast, literal: Any) -> Fn:
        """`where(system = 'phone')`: a single value equal to the literal."""
        select = self.compile(path, top=False)

        def run(items: list[Node], root: Root) -> list[Node]:
            out: list[Node] = []
            for node in base(items, root):
                found = select([node], root)
                if len(found) == 1 and values_equal(found[0][0], literal):
                    out.append(node)
            return out

        return run

    def select(self, base: Fn, projection: Ast) -> Fn:
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

    def extension(self, base: Fn, url_node: Ast) -> Fn:
        if not isinstance(url_node, Literal) or not isinstance(url_node.value, str):
            raise Unsupported("extension() with a computed url")
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

    def indexer(self, base: Fn, index_node: Ast) -> Fn:
        if not isinstance(index_node, Literal) or index_node.type_code != "integer":
            raise Unsupported("computed index")
        if base is _nothing:
            return _nothing
        index: int = index_node.value

        def run(items: list[Node], root: Root) -> list[Node]:
            found = base(items, root)
            return [found[index]] if index < len(found) else []

        return run

    def binary(self, node: Binary, top: bool) -> Fn:
        if node.op == "|":
            branches = [self.compile(operand, top) for operand in union_operands(node)]
            live = [branch for branch in branches if branch is not _nothing]
            return _union(live) if live else _nothing
        left = self.compile(node.left, top)
        right = self.compile(node.right, top)
        combine = OPERATORS.get(node.op)
        if combine is None:
            raise Unsupported(f"operator {node.op}")

        def run(items: list[Node], root: Root) -> list[Node]:
            return combine(left(items, root), right(items, root))

        return run


def _no_values(resource: Mapping[str, Any]) -> list[TypedValue]:
    return []


def _union(branches: list[Fn]) -> Fn:
    if len(branches) == 1:  # the usual case once other types' branches are pruned
        (branch,) = branches

        def single(items: list[Node], root: Root) -> list[Node]:
            return distinct(branch(items, root))

        return single

    def run(items: list[Node], root: Root) -> list[Node]:
        out: list[Node] = []
        for branch in branches:
            out.extend(branch(items, root))
        return distinct(out)

    return run


def _apply(base: Fn, function: Callable[[list[Node]], list[Node]]) -> Fn:
    def run(items: list[Node], root: Root) -> list[Node]:
        return function(base(items, root))

    return run


class FastExtractor:
    """An expression in the compiled subset; plans are specialised per resource type."""

    fast = True

    def __init__(self, expression: str, schema: Schema) -> None:
        self.expression = expression
        self._schema = schema
        self._ast = Parser(expression).parse()
        self._generic = Compiler(schema, None).compile(self._ast, top=True)
        self._plans: dict[str, Fn] = {}

    def __repr__(self) -> str:
        return f"<fast extractor {self.expression!r}>"

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            kind = ""
        return self._schema.typed(self._plan(kind)([(resource, kind)], resource))

    def _plan(self, kind: str) -> Fn:
        plan = self._plans.get(kind)
        if plan is None:
            if not self._schema.defs.is_resource_type(kind):
                return self._generic
            plan = self._plans[kind] = Compiler(self._schema, kind).compile(self._ast, True)
        return plan

    def bind(self, kind: str) -> Callable[[Mapping[str, Any]], list[TypedValue]]:
        """`self` for resources of type `kind` only, without looking the type up each call."""
        plan, typed = self._plan(kind), self._schema.typed
        if plan is _nothing:
            return _no_values

        def run(resource: Mapping[str, Any]) -> list[TypedValue]:
            return typed(plan([(resource, kind)], resource))

        return run

    def start_keys(self, kind: str) -> frozenset[str] | None:
        """Top-level keys a `kind` resource needs for this to select anything (see `keys`)."""
        return start_keys(self._ast, self._schema, kind)

    def branch_keys(self, kind: str) -> list[Keys] | None:
        """`keys.branch_keys` of this expression for `kind` resources."""
        return branch_keys(self._ast, self._schema, kind)

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        """Evaluate relative to `focus` (composite components), `resource` being `%resource`."""
        nodes = [(item.value, item.owner or item.fhir_type or "") for item in focus]
        return self._schema.typed(self._generic(nodes, resource))
