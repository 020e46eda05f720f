"""Names of choice elements (`value[x]` -> `value`), to tell `valueQuantity` from `responseCode`.

A JSON property `nameType` belongs to the choice element `name` only if some R4 definition
has an element `name[x]`; `TestScript...assert.responseCode` is not a `response` choice.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from tsunagu.validation.packages import PackageIndex


@cache
def choice_stems() -> frozenset[str]:
    """Every choice element name (without `[x]`) in the vendored definitions."""
    stems: set[str] = set()
    for sd in PackageIndex.load_default().by_type("StructureDefinition"):
        for element in sd.get("snapshot", {}).get("element", ()):
            name = str(element.get("path", "")).rsplit(".", 1)[-1]
            if name.endswith("[x]"):
                stems.add(name[:-3])
    return frozenset(stems)


def choice_value(obj: dict[str, Any], name: str) -> Any:
    """The value of choice element `name` in a JSON object (None if absent or not a choice)."""
    if name not in choice_stems():
        return None
    size = len(name)
    for key, value in obj.items():
        if key.startswith(name) and key[size : size + 1].isupper():
            return value
    return None
