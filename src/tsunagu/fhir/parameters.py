"""Reading a `Parameters` resource, the body of most operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeGuard


def is_parameters(body: object) -> TypeGuard[dict[str, Any]]:
    """Whether `body` is a JSON object with `resourceType` Parameters."""
    return isinstance(body, dict) and body.get("resourceType") == "Parameters"


def named_parameters(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, parameter) for each parameter of a Parameters body, in order.

    Entries that are not objects or have no string `name` are passed over.
    """
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            yield parameter["name"], parameter
