"""`tsunagu roster import FILE`: import an insurer roster CSV, all or nothing.

The file is checked completely first; with any error every one is printed (row, column,
never the value) and nothing is written (exit 1). Otherwise every row is written in one
transaction through the same code as `POST /fhir/Coverage/$import-roster`, with a progress
bar, and a summary is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.identity.roster import ENCODINGS, RosterFileError, parse_roster
from tsunagu.interactions.operations.roster import import_rows
from tsunagu.settings import DEFAULT_DATABASE_URL

app = typer.Typer(help="Insurer rosters (被保険者台帳).", no_args_is_help=True)
console = Console(stderr=True)
BASE = "urn:tsunagu:cli"
MAX_PRINTED = 200


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="The roster CSV (layout: docs/identity-eligibility.md).")
    ],
    encoding: Annotated[
        str, typer.Option(help="auto (UTF-8, else Shift_JIS), utf-8 or cp932.")
    ] = "auto",
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Import FILE: one Patient and one Coverage per row, or nothing when any row is wrong."""
    if encoding not in ENCODINGS:
        raise typer.BadParameter(f"one of {', '.join(ENCODINGS)}", param_hint="--encoding")
    try:
        data = file.read_bytes()
    except OSError as error:
        console.print(f"[red]{file}[/]: {error.strerror}")
        raise typer.Exit(2) from None
    try:
        roster = parse_roster(data, encoding)
    except RosterFileError as error:
        console.print(f"[red]{file.name}[/]: {error}")
        raise typer.Exit(1) from None
    if roster.errors:
        for row_error in roster.errors[:MAX_PRINTED]:
            console.print(f"[red]{file.name}[/] {row_error}")
        if len(roster.errors) > MAX_PRINTED:
            console.print(f"… {len(roster.errors) - MAX_PRINTED} more")
        console.print(
            f"{len(roster.errors)} 件のエラー: 何も取り込んでいません / "
            f"{len(roster.errors)} errors: nothing imported"
        )
        raise typer.Exit(1)
    platform = open_platform(database)
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("importing", total=len(roster.rows))
            summary = import_rows(
                platform.context(BASE),
                roster.rows,
                lambda n: progress.advance(task, n),
            )
    except FhirError as error:
        console.print(f"[red]{file.name}[/]: {error} — 何も取り込んでいません / nothing imported")
        raise typer.Exit(1) from None
    finally:
        platform.close()
    console.print(
        f"{summary.rows} 行を取り込みました (新規 {summary.created}, 更新 {summary.updated}) / "
        f"imported {summary.rows} rows ({summary.created} new, {summary.updated} updated)"
    )
