"""`tsunagu validate`: check FHIR JSON files offline, as the server would before storing them.

No server and no database: the validator is built from the vendored packages. Every `.json`
file given (or found under a folder) is one resource or a Bundle; each is validated with its
`meta.profile` claims, the `--profile` URLs and the server's required profiles
(`TSUNAGU_REQUIRED_PROFILES`). Exit code 0: no error; 1: some resource has an error;
2: some input could not be read as a FHIR resource.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tsunagu.bootstrap import build_validator
from tsunagu.fhir import jsonio
from tsunagu.fhir.outcomes import Issue
from tsunagu.settings import Settings
from tsunagu.validation import ResourceValidator

EXIT_INVALID = 1
EXIT_UNREADABLE = 2
_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "information": "cyan"}


@dataclass
class FileReport:
    """What one file held and what was found in it."""

    path: Path
    resource: str = ""
    issues: list[Issue] = field(default_factory=list)
    unreadable: str | None = None  # why the file is not a FHIR resource

    def count(self, *severities: str) -> int:
        return sum(1 for issue in self.issues if issue.severity in severities)

    @property
    def errors(self) -> int:
        return self.count("fatal", "error")

    @property
    def warnings(self) -> int:
        return self.count("warning")


def validate(
    paths: Annotated[list[Path], typer.Argument(help="JSON files or folders of them.")],
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", help="A profile every resource must conform to (repeatable)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only the summary table, not each issue.")
    ] = False,
) -> None:
    """Validate FHIR resources and Bundles in JSON files, without a server."""
    console = Console(soft_wrap=False)
    files = sorted(set(json_files(paths)))
    missing = [p for p in paths if not p.exists()]
    settings = Settings(validation=True)
    validator = build_validator(settings)
    assert validator is not None  # validation=True always builds one
    reports = [
        *(_missing(p) for p in missing),
        *(check_file(validator, f, profile or ()) for f in files),
    ]
    if not reports:
        console.print("[red]検証する .json ファイルがありません / no .json files to validate[/]")
        raise typer.Exit(EXIT_UNREADABLE)
    render(console, reports, quiet=quiet)
    raise typer.Exit(exit_code(reports))


def json_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The files named, and every `*.json` under the folders named."""
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*.json") if p.is_file())
        elif path.exists():
            yield path


def check_file(validator: ResourceValidator, path: Path, profiles: Sequence[str]) -> FileReport:
    """Read one file and validate the resource (or Bundle) it holds."""
    report = FileReport(path)
    try:
        content: Any = jsonio.loads(path.read_bytes())
    except OSError as error:
        report.unreadable = f"読めません / cannot read: {error.strerror or type(error).__name__}"
        return report
    except (jsonio.JSONDecodeError, UnicodeDecodeError):
        report.unreadable = "JSON ではありません / not valid JSON"
        return report
    if not isinstance(content, dict) or not isinstance(content.get("resourceType"), str):
        report.unreadable = "FHIR リソースではありません / not a FHIR resource (no resourceType)"
        return report
    report.resource = _label(content)
    report.issues = validator.validate(content, profiles=list(profiles))
    return report


def exit_code(reports: Sequence[FileReport]) -> int:
    if any(r.unreadable for r in reports):
        return EXIT_UNREADABLE
    if any(r.errors for r in reports):
        return EXIT_INVALID
    return 0


def render(console: Console, reports: Sequence[FileReport], *, quiet: bool = False) -> None:
    """The summary table, then every issue per file."""
    table = Table(title="検証結果 / validation results")
    table.add_column("file")
    table.add_column("resource")
    table.add_column("errors", justify="right")
    table.add_column("warnings", justify="right")
    for report in reports:
        if report.unreadable:
            table.add_row(escape(str(report.path)), "[red]unreadable[/]", "-", "-")
            continue
        errors = f"[red]{report.errors}[/]" if report.errors else "0"
        warnings = f"[yellow]{report.warnings}[/]" if report.warnings else "0"
        table.add_row(escape(str(report.path)), escape(report.resource), errors, warnings)
    console.print(table)
    for report in reports:
        if report.unreadable:
            console.print(
                f"[bold]{escape(str(report.path))}[/]: [red]{escape(report.unreadable)}[/]"
            )
            continue
        shown = [i for i in report.issues if not quiet and i.severity != "information"]
        if shown:
            console.print(f"[bold]{escape(str(report.path))}[/] ({escape(report.resource)})")
        for issue in shown:
            where = ", ".join(issue.expression) or "-"
            style = _STYLE.get(issue.severity, "")
            console.print(
                f"  [{style}]{issue.severity}[/] {escape(issue.code)} at {escape(where)}: "
                f"{escape(issue.message)}"
            )
    files = len(reports)
    bad = sum(1 for r in reports if r.errors or r.unreadable)
    error_count = sum(r.errors for r in reports)
    warning_count = sum(r.warnings for r in reports)
    console.print(
        f"{files} ファイル中 {bad} 件に問題 / {bad} of {files} files with errors or unreadable; "
        f"{error_count} errors, {warning_count} warnings"
    )


def _missing(path: Path) -> FileReport:
    return FileReport(path, unreadable="ファイルがありません / no such file or folder")


def _label(resource: dict[str, Any]) -> str:
    rtype = str(resource["resourceType"])
    rid = resource.get("id")
    label = f"{rtype}/{rid}" if isinstance(rid, str) else rtype
    entries = resource.get("entry")
    if rtype == "Bundle" and isinstance(entries, list):
        label += f" ({len(entries)} entries)"
    return label
