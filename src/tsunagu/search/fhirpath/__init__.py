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

Modules: `values` (TypedValue, Extractor, evaluation nodes), `syntax` (tokenizer, parser,
AST), `schema` (type lookups over Definitions), `compiler` and `runtime` (the fast path:
closures and the operators they run), `keys` (which top-level keys a compiled expression
starts from, so indexing skips what a resource lacks), `inference` and `fallback` (the
fhirpathpy path and the static types that label its results). This module is the public API.
"""

from __future__ import annotations

from tsunagu.fhir.definitions import Definitions
from tsunagu.search.fhirpath.compiler import FastExtractor
from tsunagu.search.fhirpath.fallback import FallbackExtractor
from tsunagu.search.fhirpath.schema import Schema, reference_type
from tsunagu.search.fhirpath.syntax import Unsupported
from tsunagu.search.fhirpath.values import Extractor, FHIRPathError, TypedValue

__all__ = [
    "Extractor",
    "ExtractorCache",
    "FHIRPathError",
    "TypedValue",
    "compile_path",
    "reference_type",
]


def compile_path(expression: str, defs: Definitions, *, allow_fast: bool = True) -> Extractor:
    """Compile a FHIRPath expression; fast when in the search subset, else on fhirpathpy.

    `allow_fast=False` forces fhirpathpy (for comparisons and measurements).
    """
    schema = Schema(defs)
    if not allow_fast:
        return FallbackExtractor(expression, schema)
    return _compile(expression, schema)


class ExtractorCache:
    """Compiled extractors by expression, sharing type lookups (one per Definitions)."""

    def __init__(self, defs: Definitions) -> None:
        self._schema = Schema(defs)
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


def _compile(expression: str, schema: Schema) -> Extractor:
    try:
        return FastExtractor(expression, schema)
    except Unsupported:
        return FallbackExtractor(expression, schema)
