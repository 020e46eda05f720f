"""`tsunagu token`, `tsunagu client ...`, `tsunagu keys ...`, `tsunagu patient-credential ...`.

Everything here works on the database directly (no server needed); tokens are signed with
the same keys the server verifies with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tsunagu.bootstrap import Platform
from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.security.clients import (
    Client,
    RegistrationError,
    facility_problem,
    hash_secret,
    new_secret,
    validate_client,
)
from tsunagu.security.principal import Role
from tsunagu.security.tokens import Grant, generate_signing_key
from tsunagu.settings import DEFAULT_DATABASE_URL
from tsunagu.storage.auth import AuthStore

console = Console(stderr=True)
out = Console(soft_wrap=True)
DEFAULT_AUDIENCE = "http://127.0.0.1:8080/fhir"
_ROLES = ", ".join(role.value for role in Role)

client_app = typer.Typer(help="Register, list and remove OAuth2 clients.", no_args_is_help=True)
keys_app = typer.Typer(help="The server's token signing keys.", no_args_is_help=True)
credential_app = typer.Typer(help="Patient credentials (sign-in for patient apps).")

RoleOption = Annotated[str, typer.Option("--role", help=f"One of: {_ROLES}.")]
ScopesOption = Annotated[
    list[str] | None,
    typer.Option("--scopes", help="SMART scopes (repeat, or space-separated)."),
]


@contextmanager
def _platform(database: str) -> Iterator[Platform]:
    platform = open_platform(database)
    try:
        yield platform
    finally:
        platform.close()


def _store(platform: Platform) -> AuthStore:
    return platform.key_ring().store


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise typer.BadParameter(
            f"unknown role {value!r}; one of: {_ROLES}", param_hint="--role"
        ) from None


def _scopes(values: list[str] | None) -> tuple[str, ...]:
    return tuple(scope for value in values or () for scope in value.split())


def token(
    role: RoleOption,
    facility: Annotated[
        str | None, typer.Option("--facility", help="医療機関コード / 薬局コード (10 digits).")
    ] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Patient id the token is bound to.")
    ] = None,
    scopes: ScopesOption = None,
    minutes: Annotated[int, typer.Option("--minutes", min=1, max=24 * 60)] = 30,
    subject: Annotated[str | None, typer.Option("--subject", help="Default: cli-ROLE.")] = None,
    client_id: Annotated[str, typer.Option("--client-id")] = "tsunagu-cli",
    database: DatabaseOption = DEFAULT_DATABASE_URL,
    audience: Annotated[
        str,
        typer.Option("--audience", envvar="TSUNAGU_BASE_URL", help="The server's FHIR base URL."),
    ] = DEFAULT_AUDIENCE,
) -> None:
    """Print an access token signed with the server's key (for scripts and tests)."""
    parsed = _role(role)
    if facility is not None and (problem := facility_problem(facility)):
        raise typer.BadParameter(problem, param_hint="--facility")
    if facility is None and parsed not in (Role.PATIENT, Role.MUNICIPAL, Role.RESEARCHER):
        raise typer.BadParameter(f"--facility is required for role {parsed}")
    if parsed is Role.PATIENT and not patient:
        raise typer.BadParameter("a patient token needs --patient", param_hint="--patient")
    granted = _scopes(scopes) or (("patient/*.rs",) if parsed is Role.PATIENT else ("user/*.rs",))
    grant = Grant(
        subject=subject or (patient if parsed is Role.PATIENT and patient else f"cli-{parsed}"),
        role=parsed,
        client_id=client_id,
        facility=facility,
        patient=patient,
        scopes=granted,
        lifetime=timedelta(minutes=minutes),
    )
    with _platform(database) as platform:
        value = platform.mint_token(grant, audience.rstrip("/"))
    out.print(value)
    console.print(f"role={parsed} scope={' '.join(granted)} expires in {minutes} min")


# --- clients ------------------------------------------------------------------------------


@client_app.command("add")
def client_add(
    client_id: Annotated[str, typer.Option("--id", help="The client_id.")],
    role: RoleOption,
    scopes: ScopesOption = None,
    facility: Annotated[str | None, typer.Option("--facility")] = None,
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="JSON file with the client's public JWK Set.")
    ] = None,
    jwks_url: Annotated[str | None, typer.Option("--jwks-url")] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="For app launch (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Register a client: a facility system (--jwks/--jwks-url) or an app (--redirect-uri)."""
    key_set: dict[str, Any] | None = None
    if jwks is not None:
        try:
            key_set = json.loads(jwks.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise typer.BadParameter(f"cannot read a JWKS: {error}", param_hint="--jwks") from None
        if isinstance(key_set, dict) and "keys" not in key_set:
            key_set = {"keys": [key_set]}  # a single JWK
    if not isinstance(key_set, dict | None):
        raise typer.BadParameter("a JWKS is a JSON object", param_hint="--jwks")
    try:
        client = validate_client(
            Client(
                client_id=client_id,
                role=_role(role),
                facility=facility,
                scopes=_scopes(scopes),
                jwks=key_set,
                jwks_url=jwks_url,
                redirect_uris=tuple(redirect_uri or ()),
                name=name,
            )
        )
    except RegistrationError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    with _platform(database) as platform:
        added = _store(platform).add_client(client, datetime.now(UTC))
    if not added:
        console.print(f"[red]client_id は登録済みです / client {client_id!r} already exists[/]")
        raise typer.Exit(1)
    console.print(f"registered client {client_id} ({client.role}, facility {facility or '-'})")


@client_app.command("list")
def client_list(database: DatabaseOption = DEFAULT_DATABASE_URL) -> None:
    """List registered clients."""
    with _platform(database) as platform:
        clients = _store(platform).clients()
    table = Table("client_id", "role", "facility", "scopes", "auth")
    for client in clients:
        kind = "jwks" if client.jwks else "jwks-url" if client.jwks_url else "redirect"
        table.add_row(
            client.client_id, client.role, client.facility or "-", " ".join(client.scopes), kind
        )
    out.print(table)


@client_app.command("remove")
def client_remove(
    client_id: Annotated[str, typer.Argument(help="The client_id.")],
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Remove a client (its tokens stay valid until they expire)."""
    with _platform(database) as platform:
        removed = _store(platform).remove_client(client_id)
    if not removed:
        console.print(f"[red]no client {client_id!r}[/]")
        raise typer.Exit(1)
    console.print(f"removed client {client_id}")


# --- keys ---------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate(database: DatabaseOption = DEFAULT_DATABASE_URL) -> None:
    """Add a new signing key; older keys still verify until `keys retire`."""
    key = generate_signing_key(datetime.now(UTC))
    with _platform(database) as platform:
        _store(platform).add_signing_key(key)
    console.print(f"new signing key {key.kid} (servers pick it up within 30 s)")


@keys_app.command("list")
def keys_list(database: DatabaseOption = DEFAULT_DATABASE_URL) -> None:
    """List signing keys, newest (the one that signs) first."""
    with _platform(database) as platform:
        keys = _store(platform).signing_keys()
    table = Table("alg", "created", "state")
    table.add_column("kid", overflow="fold")
    signing = next((key.kid for key in keys if key.retired is None), None)
    for key in keys:
        state = "retired" if key.retired else "signing" if key.kid == signing else "verifying"
        table.add_row(key.algorithm, key.created.isoformat(timespec="seconds"), state, key.kid)
    out.print(table)


# A kid is a base64url thumbprint: one in 64 starts with "-", which must not read as an option.
@keys_app.command("retire", context_settings={"ignore_unknown_options": True})
def keys_retire(
    kid: Annotated[str, typer.Argument(help="The key id (see `keys list`).")],
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Retire a key: tokens it signed stop verifying."""
    with _platform(database) as platform:
        retired = _store(platform).retire_signing_key(kid, datetime.now(UTC))
    if not retired:
        console.print(f"[red]no active key {kid!r}[/]")
        raise typer.Exit(1)
    console.print(f"retired key {kid}")


# --- patient credentials ------------------------------------------------------------------


@credential_app.command("issue")
def credential_issue(
    patient_id: Annotated[str, typer.Argument(help="The Patient resource id.")],
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Issue (or replace) a patient's sign-in secret; it is printed once, stored hashed."""
    secret = new_secret()
    hashed = hash_secret(secret)
    with _platform(database) as platform:
        stored = platform.repository.read("Patient", patient_id)
        if stored is None or stored.deleted:
            console.print(f"[red]Patient/{patient_id} がありません / no such Patient[/]")
            raise typer.Exit(1)
        _store(platform).set_patient_secret(patient_id, hashed, datetime.now(UTC))
    out.print(secret)
    console.print(
        f"Patient/{patient_id} の秘密情報です。一度だけ表示されます / "
        "the patient's secret, shown only once"
    )
