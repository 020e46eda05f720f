"""The composition root: the only place that picks adapters for the given settings."""

from __future__ import annotations

from dataclasses import dataclass

from tsunagu.fhir.definitions import Definitions, load_definitions
from tsunagu.settings import Settings
from tsunagu.storage.repository import ResourceRepository
from tsunagu.storage.sql.connect import open_repository


@dataclass(frozen=True)
class Platform:
    """Everything a running Tsunagu needs, built once per process."""

    settings: Settings
    repository: ResourceRepository
    definitions: Definitions

    def close(self) -> None:
        self.repository.close()


def build_platform(settings: Settings) -> Platform:
    """Open storage (creating or migrating the schema) and load the FHIR definitions."""
    return Platform(
        settings=settings,
        repository=open_repository(settings.database_url, pool_size=settings.pool_size),
        definitions=load_definitions(),
    )
