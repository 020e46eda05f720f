"""The composition root: the only place that picks adapters for the given settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from tsunagu.fhir.definitions import Definitions, load_definitions
from tsunagu.identity import blocking
from tsunagu.interactions import audit
from tsunagu.interactions.context import Context
from tsunagu.interactions.operations.reindex import load_custom_parameters
from tsunagu.interactions.operations.validate import ProfilePolicy
from tsunagu.search.parameters import ComputedParam, SearchRegistry, UnindexedRegistry
from tsunagu.search.terminology import Direction, ValueSetCodes
from tsunagu.security.tokens import Grant, issuer_for, mint_access_token
from tsunagu.settings import Settings
from tsunagu.storage.audit import AuditTrail
from tsunagu.storage.auth import KeyRing
from tsunagu.storage.repository import ResourceRepository
from tsunagu.storage.sql.audit_store import SqlAuditStore
from tsunagu.storage.sql.auth_store import SqlAuthStore
from tsunagu.storage.sql.connect import open_repository
from tsunagu.validation import ResourceValidator
from tsunagu.validation.packages import PackageIndex
from tsunagu.validation.terminology import PackageTerminology
from tsunagu.validation.validator import Validator

# Search parameters whose values Python computes (what FHIRPath cannot express).
COMPUTED_PARAMS = (
    ComputedParam(
        blocking.DEFINITION, blocking.record_keys, blocking.ROOTS, blocking.DOCUMENTATION
    ),
)


@dataclass(frozen=True)
class Platform:
    """Everything a running Tsunagu needs, built once per process."""

    settings: Settings
    repository: ResourceRepository
    definitions: Definitions
    registry: SearchRegistry
    # Authentication: the auth tables and the server's signing keys (docs/authentication.md).
    keys: KeyRing | None = None
    # Receives the Context of every token issuance or denial, and of every request refused
    # before it reached an interaction (401), with `principal` and `audit` filled in.
    audit_sink: Callable[[Context], None] | None = None
    # The hash-chained audit log (docs/audit.md); None only in insecure-dev with audit off.
    audit_trail: AuditTrail | None = None
    # Validates every write (docs/validation.md); None when validation is switched off.
    validator: ResourceValidator | None = None

    def key_ring(self) -> KeyRing:
        """The signing keys (a platform built by `build_platform` always has them)."""
        if self.keys is None:
            raise RuntimeError("this platform has no auth store")
        return self.keys

    def mint_token(self, grant: Grant, audience: str) -> str:
        """An access token for `grant` signed with the server's current key (CLI, tests)."""
        return mint_access_token(
            self.key_ring().signing_key(),
            grant,
            issuer=issuer_for(audience),
            audience=audience,
            now=datetime.now(UTC),
        )

    def context(self, base_url: str, *, audited: bool = False) -> Context:
        """The interaction context for requests under `base_url`; `audited` (HTTP requests)
        records every interaction in the audit trail, when there is one."""
        ctx = Context(
            self.repository, self.definitions, self.registry, base_url, validator=self.validator
        )
        if audited:
            ctx.audit_trail = self.audit_trail
        return ctx

    def close(self) -> None:
        if self.audit_trail is not None:
            self.audit_trail.close()  # flushes the audit events still queued
        self.repository.close()


def build_platform(settings: Settings) -> Platform:
    """Open storage (creating or migrating the schema), load definitions and custom params."""
    definitions = load_definitions()
    terminology = PackageSearchTerminology(_shared_terminology)
    registry = SearchRegistry(definitions, computed=COMPUTED_PARAMS, terminology=terminology)
    if not settings.search_index and settings.insecure_dev:  # honoured in insecure-dev only
        registry = UnindexedRegistry(definitions, terminology=terminology)
    repository = open_repository(settings.database_url, registry, pool_size=settings.pool_size)
    trail = None
    if settings.audit or not settings.insecure_dev:  # audit is off only in insecure-dev
        trail = SqlAuditStore(repository, wait=settings.audit_wait)
    platform = Platform(
        settings,
        repository,
        definitions,
        registry,
        keys=KeyRing(SqlAuthStore(repository.dialect)),
        audit_trail=trail,
        audit_sink=None if trail is None else audit.sink(trail),
        validator=build_validator(settings),
    )
    load_custom_parameters(platform.context(""))
    return platform


def build_validator(settings: Settings) -> ResourceValidator | None:
    """The validator for `settings` (None when validation is off), with the required
    profiles per type; the compiled profiles are shared by every platform of the process."""
    if not settings.validation:
        return None
    validator = _shared_validator()
    if settings.required_profiles:
        return ProfilePolicy(validator, settings.required_profiles)
    return validator


@cache
def _shared_validator() -> Validator:
    return Validator(PackageIndex.load_default(), _shared_terminology())


@cache
def _shared_terminology() -> PackageTerminology:
    """The value sets and code systems of the conformance packages (R4, JP Core, JP-CLINS)."""
    return PackageTerminology(PackageIndex.load_default())


class PackageSearchTerminology:
    """Search's terminology (`search.terminology`) from the packages' value sets and code
    systems, loaded on first use (a server that never searches with `:in` or a token's
    `:below` does not load them for that)."""

    def __init__(self, terminology: Callable[[], PackageTerminology]) -> None:
        self._terminology = terminology

    def value_set_codes(self, url: str) -> ValueSetCodes | None:
        terminology = self._terminology()
        expansion = terminology.expansion(url)
        if expansion is None:
            return None
        codes = frozenset(
            (spelling, code)
            for system, code in expansion.codes
            for spelling in terminology.system_spellings(system)
        )
        return ValueSetCodes(codes, expansion.complete and not expansion.open_systems)

    def related_codes(
        self, system: str, code: str, direction: Direction
    ) -> frozenset[tuple[str, str]] | None:
        terminology = self._terminology()
        codes = terminology.related_codes(system, code, below=direction == "below")
        if codes is None:
            return None
        spellings = terminology.system_spellings(system)
        return frozenset((spelling, found) for spelling in spellings for found in codes)
