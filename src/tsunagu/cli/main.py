"""`tsunagu`: serve the FHIR API, load data, inspect the database."""

from __future__ import annotations

import copy
import os
import sqlite3
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from tsunagu.bootstrap import Platform
from tsunagu.cli import audit as audit_commands
from tsunagu.cli import auth as auth_commands
from tsunagu.cli import identity as identity_commands
from tsunagu.cli import load as load_commands
from tsunagu.cli import roster as roster_commands
from tsunagu.cli import validate as validate_command
from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.settings import DEFAULT_DATABASE_URL

app = typer.Typer(
    help="Tsunagu (つなぐ): FHIR R4 + JP Core platform for Japan's medical DX.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("load")(load_commands.load)
app.command("demo-data")(load_commands.demo_data)
app.command("validate")(validate_command.validate)
app.command("seed")(identity_commands.seed)
app.command("link-patients")(identity_commands.link_patients)
app.command("token")(auth_commands.token)
app.add_typer(auth_commands.client_app, name="client")
app.add_typer(auth_commands.keys_app, name="keys")
app.add_typer(auth_commands.credential_app, name="patient-credential")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(roster_commands.app, name="roster")
console = Console(stderr=True)


@app.command()
def serve(
    database: DatabaseOption = DEFAULT_DATABASE_URL,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help="Development mode: NO authentication. Never use with real patient data.",
        ),
    ] = False,
    base_url: Annotated[str, typer.Option(help="Public FHIR base URL, when behind a proxy.")] = "",
) -> None:
    """Serve the FHIR R4 API at http://HOST:PORT/fhir."""
    import uvicorn

    os.environ["TSUNAGU_DATABASE_URL"] = database
    os.environ["TSUNAGU_INSECURE_DEV"] = "true" if insecure_dev else "false"
    if base_url:
        os.environ["TSUNAGU_BASE_URL"] = base_url
    # Create or migrate the schema once, before the workers start.
    platform = open_platform(database)
    try:
        rebuild_owed(platform)
    finally:
        platform.close()
    if insecure_dev:
        console.print(
            "[bold red]警告: 開発モード (--insecure-dev) — 認証なし。"
            "実患者データには使用しないでください。\n"
            "WARNING: development mode (--insecure-dev): NO authentication. "
            "Never use with real patient data.[/]"
        )
    else:
        console.print(
            "認証が有効です。 Authentication is on: requests without credentials get 401 "
            "(public: /fhir/metadata, /fhir/.well-known/smart-configuration, /auth/*)."
        )
    console.print(f"FHIR base: http://{host}:{port}/fhir   database: {_redact(database)}")
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["tsunagu"] = {"handlers": ["default"], "level": "INFO"}
    uvicorn.run(
        "tsunagu.http.app:create_app_from_env",
        log_config=log_config,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # our own log omits query strings, which may hold personal data
        log_level="info",
    )


# Resources up to which `tsunagu serve` rebuilds at start-up the index rows that an upgrade
# changed (seconds on SQLite); a larger database is left to `tsunagu reindex --param-type`,
# which the operator runs when it suits (about 4 minutes per million on PostgreSQL).
AUTO_REBUILD_LIMIT = 100_000


def rebuild_owed(platform: Platform, limit: int = AUTO_REBUILD_LIMIT) -> None:
    """Rebuild the index rows an upgrade changed (`SqlRepository.pending_rebuilds`), or say
    how to, before the server answers searches with them."""
    from tsunagu.search.parameters import UnindexedRegistry

    repo = platform.repository
    if isinstance(platform.registry, UnindexedRegistry):
        return  # a server without search indexing (the benchmark's baseline) rebuilds nothing
    owed = repo.pending_rebuilds()
    if not owed:
        return
    size = repo.count()
    for param_type, reason in owed.items():
        if size <= limit:
            count = repo.reindex_type(param_type)
            console.print(
                f"検索インデックスを再構築しました / rebuilt the {param_type} index rows of "
                f"{count:,} resources ({reason})"
            )
        else:
            console.print(
                f"[bold yellow]検索インデックスの再構築が必要です: `tsunagu reindex --param-type "
                f"{param_type}` を実行してください / the {param_type} index rows of "
                f"{size:,} resources need rebuilding: run `tsunagu reindex --param-type "
                f"{param_type}` ({reason})[/]"
            )


def _redact(url: str) -> str:
    """The database URL without a password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


@app.command()
def info(database: DatabaseOption = DEFAULT_DATABASE_URL) -> None:
    """Show the schema version and resource counts of a database."""
    from tsunagu.storage.sql.migrations import schema_version
    from tsunagu.storage.sql.repository import SqlRepository

    platform = open_platform(database)
    try:
        repo = platform.repository
        assert isinstance(repo, SqlRepository)
        console.print(f"database: {_redact(database)}")
        console.print(f"schema version: {schema_version(repo.dialect)}")
        console.print(f"resources: {repo.count():,}")
    finally:
        platform.close()


@app.command()
def reindex(
    database: DatabaseOption = DEFAULT_DATABASE_URL,
    resource_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="Only resources of this type (repeatable).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Only the rows of this search parameter (repeatable), e.g. `--type Patient "
            "--param match-key` after an upgrade that adds it; much faster than a full reindex.",
        ),
    ] = None,
    param_type: Annotated[
        str | None,
        typer.Option(
            "--param-type",
            help="Only the rows of the parameters of this type (and of the composites with a "
            "component of it), e.g. `--param-type date` after the upgrade that reads dates "
            "without a zone in Japan time.",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Only delete the index rows no search parameter writes any more (left by an "
            "earlier version, or by a retired custom SearchParameter); recomputes nothing.",
        ),
    ] = False,
) -> None:
    """Load custom SearchParameters and rebuild the search index (or, with `--prune`, only
    remove rows no parameter writes any more), with a progress bar."""
    from rich.progress import Progress

    platform = open_platform(database)
    try:
        unknown = sorted(set(resource_type or ()) - platform.definitions.resource_types)
        if unknown:
            console.print(f"未知のリソース型です / unknown resource type: {', '.join(unknown)}")
            raise typer.Exit(2)
        if prune and (resource_type or param or param_type):
            console.print(
                "--prune は --type / --param / --param-type と併用できません / "
                "--prune takes no --type, --param or --param-type"
            )
            raise typer.Exit(2)
        if param_type is not None and param:
            console.print(
                "--param-type は --param と併用できません / --param-type takes no --param"
            )
            raise typer.Exit(2)
        custom = len(platform.registry.custom)
        with Progress(console=console) as progress:
            task = progress.add_task("pruning" if prune else "reindexing", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if prune:
                removed = platform.repository.prune_index(progress=advance)
            else:
                try:
                    if param_type is not None:
                        count = platform.repository.reindex_type(
                            param_type, resource_type or (), progress=advance
                        )
                    else:
                        count = platform.repository.reindex(
                            resource_type or (), progress=advance, params=param or ()
                        )
                except ValueError as error:
                    console.print(f"検索パラメータがありません / {error}")
                    raise typer.Exit(2) from None
        if prune:
            console.print(f"pruned {removed:,} index rows ({custom} custom search parameters)")
        else:
            console.print(f"reindexed {count:,} resources ({custom} custom search parameters)")
    finally:
        platform.close()


def main() -> None:
    """The `tsunagu` command. A database that fails (unreachable, full, locked) ends it with
    one line and exit status 1, not a traceback."""
    try:
        app()
    except (sqlite3.Error, psycopg.Error) as error:
        console.print(
            f"データベースの操作に失敗しました / the database operation failed: {_reason(error)}"
        )
        raise SystemExit(1) from None


def _reason(error: BaseException) -> str:
    """The first line of the innermost database error's message: the cause, without the
    details (PostgreSQL's DETAIL lines can quote row values)."""
    while isinstance(error.__cause__, sqlite3.Error | psycopg.Error):
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


__all__ = ["app", "main"]
