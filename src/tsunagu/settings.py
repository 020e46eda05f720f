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
