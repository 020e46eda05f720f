"""`tsunagu load` and `tsunagu demo-data`: put FHIR data into a database through the API handlers.

Loading goes through `interactions.router.dispatch`, the same code the HTTP API runs, so a
file that loads here behaves the same as one sent over REST.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from tsunagu.bootstrap import Platform
from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.cli.demo import demo_bundle
from tsunagu.fhir import jsonio
from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import DEFAULT_DATABASE_URL

console = Console(stderr=True)
BASE = "urn:tsunagu:cli"  # stands in for the base URL; nothing stored depends on it


def load(
    paths: Annotated[list[Path], typer.Argument(help="JSON files or folders of them.")],
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Load resources and Bundles (transaction/batch run as such; others are PUT by id)."""
    files = sorted(_json_files(paths))
    platform = open_platform(database)
    failures = 0
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("loading", total=len(files))
            for file in files:
                try:
                    submit(platform, jsonio.loads(file.read_bytes()))
                except (FhirError, jsonio.JSONDecodeError, UnicodeDecodeError) as error:
                    failures += 1
                    console.print(f"[red]{file.name}[/]: {error}")
                progress.advance(task)
    finally:
        platform.close()
    console.print(f"loaded {len(files) - failures} of {len(files)} files")
    if failures:
        raise typer.Exit(1)


def demo_data(
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Load the Japanese demo data set (idempotent: loading it twice changes nothing)."""
    platform = open_platform(database)
    try:
        result = submit(platform, demo_bundle())
    finally:
        platform.close()
    console.print(f"demo data: {len(result.get('entry', []))} resources in place")


def submit(platform: Platform, resource: Any) -> dict[str, Any]:
    """Send one resource or Bundle through the API handlers; returns the response body."""
    ctx = platform.context(BASE)
    if (
        isinstance(resource, dict)
        and resource.get("resourceType") == "Bundle"
        and resource.get("type") in ("transaction", "batch")
    ):
        request = FhirRequest("POST", "", body=resource)
    elif isinstance(resource, dict) and isinstance(resource.get("id"), str):
        request = FhirRequest(
            "PUT", f"{resource.get('resourceType')}/{resource['id']}", body=resource
        )
    else:
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        request = FhirRequest("POST", str(rtype), body=resource)
    response = dispatch(ctx, request)
    return response.resource or {}


def _json_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from path.rglob("*.json")
        else:
            yield path
