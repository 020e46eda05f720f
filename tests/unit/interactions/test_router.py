"""The route table: path shapes, methods and Prefer handling, without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tsunagu.bootstrap import build_platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.context import Context, FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    platform = build_platform(Settings(database_url=f"sqlite:///{tmp_path}/r.db"))
    yield platform.context("http://x/fhir")
    platform.close()


def test_create_then_read_without_http(ctx: Context) -> None:
    created = dispatch(ctx, FhirRequest("POST", "Patient", body={"resourceType": "Patient"}))
    assert created.status == 201
    assert created.resource is not None
    read = dispatch(ctx, FhirRequest("GET", f"Patient/{created.resource['id']}"))
    assert read.status == 200
    assert read.headers["etag"] == 'W/"1"'


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "Nope/1", 404),
        ("POST", "Patient/1", 405),
        ("GET", "Patient/1/_history/1/extra", 404),
        ("PUT", "metadata", 405),
        ("GET", "Patient/$unknown", 400),
    ],
)
def test_routing_errors(ctx: Context, method: str, path: str, status: int) -> None:
    with pytest.raises(FhirError) as raised:
        dispatch(ctx, FhirRequest(method, path))
    assert raised.value.status == status


def test_prefer_minimal_and_outcome(ctx: Context) -> None:
    body = {"resourceType": "Patient"}
    minimal = dispatch(
        ctx, FhirRequest("POST", "Patient", headers={"prefer": "return=minimal"}, body=body)
    )
    assert minimal.resource is None
    outcome = dispatch(
        ctx,
        FhirRequest("POST", "Patient", headers={"prefer": "return=OperationOutcome"}, body=body),
    )
    assert outcome.resource is not None
    assert outcome.resource["resourceType"] == "OperationOutcome"
