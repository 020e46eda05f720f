"""The R4 example resources of `../shared` (the index tests compare rows over all of them)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / ".." / "shared" / "fhir-r4"
PACKAGE /= "hl7.fhir.r4.examples-4.0.1.tgz"


def example_resources() -> list[dict[str, Any]]:
    """Every resource in the package (skips the test when the package is absent)."""
    if not PACKAGE.exists():
        pytest.skip(f"the FHIR R4 example package is not at {PACKAGE}")
    found = []
    with tarfile.open(PACKAGE) as archive:
        for member in archive.getmembers():
            if not member.name.endswith(".json") or "/." in member.name:
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            resource = json.loads(handle.read())
            if isinstance(resource, dict) and "resourceType" in resource:
                found.append(resource)
    return found
