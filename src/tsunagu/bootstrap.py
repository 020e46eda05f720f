"""The composition root: the only place that picks adapters for the given settings."""

from __future__ import annotations

from dataclasses import dataclass

from tsunagu.fhir.definitions import Definitions, load_definitions
from tsunagu.interactions.context import Context
from tsunagu.interactions.operations.reindex import load_custom_parameters
from tsunagu.search.parameters import SearchRegistry
from tsunagu.settings import Settings
from tsunagu.storage.repository import ResourceRepository
from tsunagu.storage.sql.connect import open_repository


@dataclass(frozen=True)
class Platform:
    """Everything a running Tsunagu needs, built once per process."""

    settings: Settings
    repository: ResourceRepository
    definitions: Definitions
    registry: SearchRegistry

    def context(self, base_url: str) -> Context:
        """The interaction context for requests under `base_url`."""
        return Context(self.repository, self.definitions, self.registry, base_url)

    def close(self) -> None:
        self.repository.close()


def build_platform(settings: Settings) -> Platform:
    """Open storage (creating or migrating the schema), load definitions and custom params."""
    definitions = load_definitions()
    registry = SearchRegistry(definitions)
    repository = open_repository(settings.database_url, registry, pool_size=settings.pool_size)
    platform = Platform(settings, repository, definitions, registry)
    load_custom_parameters(platform.context(""))
    return platform
