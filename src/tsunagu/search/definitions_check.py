"""Checks that a custom search parameter can be used before the server relies on it."""

from __future__ import annotations

from tsunagu.fhir.definitions import Definitions, SearchParameterDef
from tsunagu.search.fhirpath import compile_path


def check_parameter(definition: SearchParameterDef, defs: Definitions) -> None:
    """ValueError when the bases are not resource types or the expression does not compile."""
    unknown = [b for b in definition.base if b != "Resource" and b not in defs.resource_types]
    if unknown:
        raise ValueError(f"unknown base type(s): {', '.join(unknown)}")
    if definition.expression:
        try:
            compile_path(definition.expression, defs)
        except Exception as error:  # fhirpathpy raises several types for bad expressions
            raise ValueError(f"the expression does not compile ({type(error).__name__})") from None
