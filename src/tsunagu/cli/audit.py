"""`tsunagu audit verify | list`: prove the audit chain, list a patient's access history."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.security.audit_event import FACILITY, TSUNAGU_ROLE
from tsunagu.settings import DEFAULT_DATABASE_URL

app = typer.Typer(help="The tamper-evident audit log (AuditEvents in a hash chain).")
console = Console(stderr=True)
BASE = "http://localhost/fhir"


@app.command()
def verify(database: DatabaseOption = DEFAULT_DATABASE_URL) -> None:
    """Recompute the hash chain over every AuditEvent; exit 1 naming the first bad link."""
    platform = open_platform(database)
    try:
        trail = platform.audit_trail
        if trail is None:
            raise typer.BadParameter("no audit trail on this platform")
        report = trail.verify()
    finally:
        platform.close()
    if report.first_break is not None:
        console.print(
            f"[bold red]監査ログの改ざんを検出 / audit chain BROKEN at link "
            f"{report.first_break.seq}[/]: {report.first_break.reason} "
            f"({report.checked:,} links verified before it)"
        )
        raise typer.Exit(1)
    typer.echo(f"OK: {report.checked:,} links verified; head {report.head_seq} {report.head_hash}")


@app.command("list")
def list_events(
    patient: Annotated[str, typer.Option(help="Patient id: who accessed this patient's data.")],
    database: DatabaseOption = DEFAULT_DATABASE_URL,
    count: Annotated[int, typer.Option(help="Most recent events to show.")] = 50,
) -> None:
    """The patient's access history, newest first (the Mynaportal view, for operators)."""
    platform = open_platform(database)
    try:
        query = (("patient", f"Patient/{patient}"), ("_sort", "-date"), ("_count", str(count)))
        try:
            response = dispatch(platform.context(BASE), FhirRequest("GET", "AuditEvent", query))
        except FhirError as error:
            raise typer.BadParameter(str(error), param_hint="--patient") from None
    finally:
        platform.close()
    entries = (response.resource or {}).get("entry") or []
    table = Table("recorded", "action", "subtype", "outcome", "role", "facility", "who")
    for entry in entries:
        table.add_row(*_row(entry["resource"]))
    Console().print(table)
    typer.echo(f"{len(entries)} events")


def _row(event: dict[str, Any]) -> list[str]:
    role = facility = who = ""
    for agent in event.get("agent", []):
        for coding in (c for r in agent.get("role", []) for c in r.get("coding", [])):
            if coding.get("system") == TSUNAGU_ROLE:
                role = coding.get("code", "")
        identifier = agent.get("who", {}).get("identifier", {})
        if identifier.get("system") == FACILITY:
            facility = identifier.get("value", "")
        elif agent.get("requestor"):
            who = agent["who"].get("reference") or identifier.get("value", "")
    subtype = event.get("subtype", [{}])[-1].get("code", "")
    return [
        event.get("recorded", ""),
        event.get("action", ""),
        subtype,
        event.get("outcome", ""),
        role,
        facility,
        who,
    ]
