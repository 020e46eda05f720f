"""The slow path: expressions outside the compiled subset, evaluated by fhirpathpy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tsunagu.fhir.definitions import Definitions
from tsunagu.search.fhirpath.inference import TypeInference, TypeKeys
from tsunagu.search.fhirpath.schema import Schema, resource_key
from tsunagu.search.fhirpath.syntax import Ast, Parser, Unsupported
from tsunagu.search.fhirpath.values import FHIRPathError, TypedValue

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

    fhirpathpy rejects `as` on several items; the compiled subset filters each (see the
    package docstring).
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


def _value_types(resource: Mapping[str, Any], schema: Schema) -> dict[int, str]:
    """Type key of every object and string inside a resource, by identity ("" if ambiguous)."""
    found: dict[int, str] = {}
    stack: list[tuple[Mapping[str, Any], str]] = [(resource, resource_key(resource))]
    while stack:
        value, key = stack.pop()
        for name, child in value.items():
            if name.startswith("_"):
                continue
            child_key = schema.fields(key, name)[0][1]
            for item in child if isinstance(child, list) else (child,):
                if isinstance(item, dict):
                    item_key = child_key or resource_key(item)
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


class FallbackExtractor:
    """An expression outside the subset, evaluated by fhirpathpy (parsed once)."""

    fast = False

    def __init__(self, expression: str, schema: Schema) -> None:
        self.expression = expression
        self._schema = schema
        self._engine = engine = _Engine()
        _check_syntax(expression, engine)
        try:
            self._parsed = _as_to_of_type(engine.parse(expression))
        except Exception as exc:
            raise FHIRPathError(f"invalid FHIRPath {expression!r}: {exc}") from exc
        try:
            self._ast: Ast | None = Parser(expression).parse()
        except Unsupported:
            self._ast = None
        self._inferred: dict[tuple[str, TypeKeys], TypeKeys | None] = {}
        self._by_type: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<fhirpathpy extractor {self.expression!r}>"

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        kind = resource_key(resource)
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
        kind = resource_key(resource)
        cache_key = (kind, context)
        if cache_key not in self._inferred:
            inference = TypeInference(self._schema, kind)
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
        kind = resource_key(value)
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
            kind = resource_key(value)
            return TypedValue(value, kind or None)
        if path.startswith("System."):
            return TypedValue(value, _FHIR_TYPE_OF_SYSTEM.get(path[7:]))
        if "." in path:
            fhir_type, owner = self._schema.typing(path)
            return TypedValue(value, fhir_type, owner if owner in defs.element_specs else None)
        if defs.is_primitive(path) and isinstance(value, dict):
            return None  # the extension of a primitive (`_family`), not a value
        return TypedValue(value, path if defs.is_type(path) else None)
