"""One typed settings object, read from arguments or `TSUNAGU_*` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///data/tsunagu.db"


class Settings(BaseSettings):
    """Server settings. Environment: TSUNAGU_DATABASE_URL, TSUNAGU_INSECURE_DEV, ..."""

    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    # The public base URL of the FHIR API; derived from the request when empty.
    base_url: str = ""
    # Development mode: no authentication. Never for real patient data.
    insecure_dev: bool = False
    # Largest request body accepted, in bytes (413 beyond).
    max_body_bytes: int = 64 * 1024 * 1024
    # Connections per worker process to PostgreSQL.
    pool_size: int = 10
    # Audit every request as an AuditEvent in the hash-chained audit log (docs/audit.md).
    # Switching it off is honoured only with insecure_dev (benchmark baselines).
    audit: bool = True
    # Write search index rows with every resource. Switching it off is honoured only with
    # insecure_dev: the benchmark's baseline of what indexing costs; what is written then is
    # found by no search until `tsunagu reindex`.
    search_index: bool = True
    # True: a read's response waits until its AuditEvents are committed (group commit).
    # False (measured default, docs/audit.md): it answers at once; a crash can lose the read
    # audits of the last moments (at most 2,000 events; writes are always in-transaction).
    audit_wait: bool = False
    # Validate every written resource (R4 structure, claimed and required profiles) and
    # reject invalid ones with 422. Switching it off is for development only.
    validation: bool = True
    # Profiles each resource of a type must claim in meta.profile and conform to, e.g.
    # {"Condition": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Condition_eCS"]}
    # (TSUNAGU_REQUIRED_PROFILES as JSON; see docs/settings.md).
    required_profiles: dict[str, list[str]] = {}
    # How long a break-glass declaration opens a patient's emergency summary, in hours.
    break_glass_hours: float = 4.0
