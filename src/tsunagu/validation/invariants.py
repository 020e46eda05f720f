"""Invariants (ElementDefinition.constraint): fhirpathpy expressions compiled once each.

Core invariants whose work the walker does natively are not evaluated here (`NATIVE`):
ele-1 (empty values), ext-1 (extension shape), dom-2..dom-5 (contained resources), ref-1
(#references), txt-1/txt-2 (`htmlChecks()`: the narrative root is checked as xhtml) and the
best-practice dom-6 (narrative recommended). Warning-level invariants of the R4 core are
not evaluated (they are best-practice advice); warnings of other packages are.

Expressions of the shape `X.empty() or ...` and `X.exists() implies ...` are short-cut when
`X` is absent (most optional elements), which avoids running the interpreter at all.
Expressions fhirpathpy cannot compile or evaluate are skipped (see docs/validation.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tsunagu.validation.choices import choice_stems, choice_value
from tsunagu.validation.fhirpath import Env, Fn, Unsupported, compile_expression
from tsunagu.validation.model import Constraint

NATIVE = frozenset(
    {"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "ref-1", "txt-1", "txt-2"}
)
CORE_SOURCE = "http://hl7.org/fhir/StructureDefinition/"


Resolver = Callable[[Any], Any]


class _CallState(threading.local):
    """Per-thread hooks used by the user functions (resolve, conformsTo, memberOf)."""

    def __init__(self) -> None:
        self.resolve: Callable[[str], Any] = lambda _ref: None
        self.conforms: Callable[[Any, str], bool] = lambda _value, _url: True
        self.member_of: Callable[[Any, str], bool | None] = lambda _value, _url: None


STATE = _CallState()


def _resolve(inputs: list[Any]) -> list[Any]:
    out = []
    for item in inputs:
        reference = item.get("reference") if isinstance(item, dict) else item
        if isinstance(reference, str):
            target = STATE.resolve(reference)
            if target is not None:
                out.append(target)
    return out


def _conforms_to(inputs: list[Any], url: Any) -> list[bool]:
    target = url[0] if isinstance(url, list) and url else url
    return [STATE.conforms(item, str(target)) for item in inputs]


def _member_of(inputs: list[Any], url: Any) -> list[bool]:
    target = url[0] if isinstance(url, list) and url else url
    out = []
    for item in inputs:
        result = STATE.member_of(item, str(target))
        out.append(True if result is None else result)
    return out


def _html_checks(inputs: list[Any]) -> list[bool]:
    return [True]


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict)]


def _trace(inputs: list[Any], *_args: Any) -> list[Any]:
    return inputs  # fhirpathpy's trace() prints to stdout; nothing may leak to logs


USER_FUNCTIONS: dict[str, Any] = {
    "trace": {"fn": _trace, "arity": {1: ["String"], 2: ["String", "Expr"]}},
    "resolve": {"fn": _resolve, "arity": {0: []}},
    "conformsTo": {"fn": _conforms_to, "arity": {1: ["String"]}},
    "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
    "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
    "hasValue": {"fn": _has_value, "arity": {0: []}},
}


def applies(constraint: Constraint) -> bool:
    """False for invariants done natively and for warning-level core (best-practice) ones."""
    if constraint.key in NATIVE:
        return False
    return not (constraint.severity != "error" and constraint.source.startswith(CORE_SOURCE))


def present(obj: dict[str, Any], name: str) -> bool:
    """True if element `name` (or a choice `nameType`) is in the JSON object."""
    return name in obj or choice_value(obj, name) is not None


@dataclass(frozen=True)
class Prepared:
    """A compiled invariant: the closure (None: fhirpathpy) and the element names whose
    absence alone makes it true (`x.empty() or ...`, `x.exists() implies ...`)."""

    native: Fn | None
    absent: tuple[str, ...]
    # `absent` with, for each name, whether it is a choice (`value` also matches `valueX`).
    absent_choices: tuple[tuple[str, bool], ...] = ()


_EMPTY_TERM = re.compile(
    r"\(?\s*([a-zA-Z]+)\.(?:empty\(\)|exists\(\)\.not\(\)|hasValue\(\)\.not\(\))\s*\)?"
)
_IMPLIES_HEAD = re.compile(r"^\(?([a-zA-Z]+)\.exists\(\)\)? implies ")


def _top_level_split(text: str, separator: str) -> list[str]:
    parts, depth, start, index = [], 0, 0, 0
    quoted = False
    while index < len(text):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            start = index + len(separator)
            index = start
            continue
        index += 1
    parts.append(text[start:])
    return parts


def absence_shortcuts(expression: str) -> tuple[str, ...]:
    """Names N such that "N is absent" makes the expression true, read from its top level:
    a disjunct `N.empty()` / `N.exists().not()`, or a leading `N.exists() implies`."""
    names: list[str] = []
    head = _IMPLIES_HEAD.match(expression)
    if head and len(_top_level_split(expression, " implies ")) == 2:
        names.append(head.group(1))
    disjuncts = _top_level_split(expression, " or ")
    if len(disjuncts) > 1:
        for part in disjuncts:
            match = _EMPTY_TERM.fullmatch(part.strip())
            if match:
                names.append(match.group(1))
    return tuple(dict.fromkeys(names))


class _Engine:
    """fhirpathpy with the R4 model, imported on first use."""

    def __init__(self) -> None:
        import fhirpathpy
        from fhirpathpy.engine.nodes import ResourceNode
        from fhirpathpy.models import models

        self.compile: Any = fhirpathpy.compile
        self.node: Any = ResourceNode.create_node
        self.model: Any = models["r4"]


class Invariants:
    """Compiled invariant expressions, by expression text (shared by all profiles)."""

    def __init__(self) -> None:
        self._engine: _Engine | None = None
        self._compiled: dict[str, Any] = {}
        self._native_compiled: dict[str, Fn | None] = {}
        self._prepared: dict[str, Prepared] = {}
        self.failures: dict[str, str] = {}  # expression -> reason (not evaluated)

    def applies(self, constraint: Constraint) -> bool:
        return applies(constraint)

    def _function(self, expression: str) -> Any:
        if expression in self._compiled:
            return self._compiled[expression]
        if self._engine is None:
            self._engine = _Engine()
        engine = self._engine
        try:
            function = engine.compile(
                expression, engine.model, {"userInvocationTable": USER_FUNCTIONS}
            )
        except Exception as exc:  # fhirpathpy raises plain Exceptions on unsupported syntax
            self.failures[expression] = f"compile: {type(exc).__name__}"
            function = None
        self._compiled[expression] = function
        return function

    def _native(self, expression: str) -> Fn | None:
        if expression in self._native_compiled:
            return self._native_compiled[expression]
        try:
            function: Fn | None = compile_expression(expression)
        except Unsupported:
            function = None
        self._native_compiled[expression] = function
        return function

    def prepare(self, constraint: Constraint) -> Prepared:
        """The constraint with its compiled closure and absence shortcuts (cached)."""
        found = self._prepared.get(constraint.expression)
        if found is None:
            absent = absence_shortcuts(constraint.expression)
            stems = choice_stems()
            found = Prepared(
                self._native(constraint.expression),
                absent,
                tuple((name, name in stems) for name in absent),
            )
            self._prepared[constraint.expression] = found
        return found

    def check(
        self,
        constraint: Constraint,
        value: Any,
        type_key: str | None,
        resource: Any,
        root: Any,
    ) -> bool | None:
        """True if satisfied, False if violated, None if it could not be evaluated."""
        prepared = self.prepare(constraint)
        env = Env(resource, root, STATE.resolve, STATE.conforms, STATE.member_of)
        return self.run(prepared, constraint, value, type_key, env)

    def run(
        self,
        prepared: Prepared,
        constraint: Constraint,
        value: Any,
        type_key: str | None,
        env: Env,
    ) -> bool | None:
        """Evaluate a prepared constraint (see `check`)."""
        if prepared.absent_choices and isinstance(value, dict):
            for name, is_choice in prepared.absent_choices:
                if name not in value and (not is_choice or choice_value(value, name) is None):
                    return True
        native = prepared.native
        if native is not None:
            try:
                result = native([value], env)
            except (ValueError, TypeError, re.error, IndexError) as exc:
                self.failures[constraint.expression] = f"evaluate: {type(exc).__name__}"
                return None
            return _verdict(result)
        return self._fallback(constraint, value, type_key, env.resource, env.root)

    def _fallback(
        self,
        constraint: Constraint,
        value: Any,
        type_key: str | None,
        resource: Any,
        root: Any,
    ) -> bool | None:
        function = self._function(constraint.expression)
        if function is None:
            return None
        engine = self._engine
        assert engine is not None
        data = value
        if type_key is not None:
            data = engine.node(value, type_key)
        try:
            result = function(data, {"resource": resource, "rootResource": root})
        except Exception as exc:  # evaluation errors of fhirpathpy are plain Exceptions
            self.failures[constraint.expression] = f"evaluate: {type(exc).__name__}"
            return None
        return _verdict(result)


def _verdict(result: list[Any]) -> bool:
    """An empty result does not fail a constraint; otherwise every item must be true."""
    if not result:
        return True
    return all(item is True for item in result)
