"""What the commands share: opening the platform with a clear error for a bad database URL."""

from __future__ import annotations

from typing import Annotated

import typer

from tsunagu.bootstrap import Platform, build_platform
from tsunagu.settings import Settings

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        envvar="TSUNAGU_DATABASE_URL",
        help="sqlite:///path/to.db (default) or postgresql://user@host:port/db",
    ),
]


def open_platform(database: str) -> Platform:
    """The platform on `database`; a usage error (exit 2) if the URL is not one we serve."""
    try:
        return build_platform(Settings(database_url=database))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--database") from None
