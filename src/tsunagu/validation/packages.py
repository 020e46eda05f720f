"""Conformance resources by canonical URL: R4 core plus the vendored JP FHIR packages.

Sources (see `packages/NOTICE.md` and `data/README.md`):

- `data/r4-conformance.json.gz`: R4 4.0.1 core StructureDefinitions, ValueSets and
  CodeSystems, trimmed by `scripts/vendor_validation.py`;
- `packages/*.tgz`: JP Core 1.1.2, JP-CLINS 1.5.2 and the document IG packages, shipped
  unchanged (CC BY-ND 4.0) and read with tarfile on first use.

When two sources define the same canonical URL, the first in `PACKAGE_FILES` order wins after
R4 core (JP-CLINS 1.5.2 is newer than the copies inside the document IGs).
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import orjson

Resource = dict[str, Any]

R4_CORE_FILE = "r4-conformance.json.gz"
R4_CORE_PACKAGE = "hl7.fhir.r4.core"
# Precedence order (first wins for a duplicated canonical URL).
PACKAGE_FILES = (
    "jp-core.r4-1.1.2.tgz",
    "jp-clins.r4-1.5.2-snap.tgz",
    "jp-eReferral.r4.tgz",
    "jp-eDischargeSummary.r4.tgz",
    "jp-eChekupReport.r4.tgz",
)
CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ValueSet",
        "CodeSystem",
        "NamingSystem",
        "SearchParameter",
        "ConceptMap",
        "OperationDefinition",
        "CapabilityStatement",
        "ImplementationGuide",
        "StructureMap",
        "CompartmentDefinition",
    }
)


@dataclass(frozen=True)
class PackageFile:
    """One JSON file of a package: its package name, file name and parsed content."""

    package: str
    filename: str
    resource: Resource


@dataclass(eq=False)
class PackageIndex:
    """Conformance resources by canonical URL (and by `url|version`)."""

    _by_url: dict[str, Resource] = field(default_factory=dict)
    _by_versioned_url: dict[str, Resource] = field(default_factory=dict)
    _by_type: dict[str, list[Resource]] = field(default_factory=dict)
    _source: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load_default(cls) -> PackageIndex:
        """The index of every vendored source, parsed once per process."""
        return cls.load(PACKAGE_FILES)

    @classmethod
    @cache
    def load(cls, files: tuple[str, ...]) -> PackageIndex:
        """An index of R4 core plus the given vendored packages, first one winning.

        `load((name, *PACKAGE_FILES))` prefers one package's own definitions, e.g. to check
        a document IG's examples against the profile versions they were written for.
        """
        index = cls()
        index.add_all(load_r4_core(), R4_CORE_PACKAGE)
        for name in dict.fromkeys(files):
            for item in _package_contents(name):
                if item.resource.get("resourceType") in CONFORMANCE_TYPES:
                    index.add(item.resource, item.package)
        return index

    def add_all(self, items: Iterable[Resource], source: str) -> None:
        for resource in items:
            self.add(resource, source)

    def add(self, resource: Resource, source: str = "") -> None:
        """Register a conformance resource; a URL already known keeps its first definition.

        Resources without a canonical URL (NamingSystem in R4) are served by `by_type` only.
        """
        url = resource.get("url")
        if not isinstance(url, str) or not url:
            if resource.get("resourceType") == "NamingSystem":
                self._by_type.setdefault("NamingSystem", []).append(resource)
            return
        if url in self._by_url:
            return
        self._by_url[url] = resource
        version = resource.get("version")
        if isinstance(version, str):
            self._by_versioned_url.setdefault(f"{url}|{version}", resource)
        self._by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
        self._source[url] = source

    def get(self, canonical: str) -> Resource | None:
        """The resource for a canonical URL, optionally with `|version`.

        A version that does not match the stored one still resolves to the stored resource
        (JP profiles are referenced as `...|1` and similar).
        """
        found = self._by_url.get(canonical)
        if found is not None:
            return found
        url, bar, _version = canonical.partition("|")
        if not bar:
            return None
        return self._by_versioned_url.get(canonical) or self._by_url.get(url)

    def __contains__(self, canonical: object) -> bool:
        return isinstance(canonical, str) and self.get(canonical) is not None

    def by_type(self, resource_type: str) -> Iterator[Resource]:
        """Every registered resource of one type (`StructureDefinition`, `ValueSet`, ...)."""
        return iter(self._by_type.get(resource_type, ()))

    def source_of(self, canonical: str) -> str | None:
        """The package name that supplied the resource for a canonical URL."""
        resource = self.get(canonical)
        return None if resource is None else self._source.get(str(resource.get("url")))

    def structure_definition(self, canonical: str) -> Resource | None:
        found = self.get(canonical)
        if found is None or found.get("resourceType") != "StructureDefinition":
            return None
        return found


def _packages_dir() -> Traversable:
    return resources.files("tsunagu.validation") / "packages"


def load_r4_core() -> list[Resource]:
    """The trimmed R4 core conformance resources."""
    data = (resources.files("tsunagu.validation") / "data" / R4_CORE_FILE).read_bytes()
    loaded: list[Resource] = orjson.loads(gzip.decompress(data))
    return loaded


def package_files() -> tuple[str, ...]:
    """File names of the vendored JP packages, in precedence order."""
    return PACKAGE_FILES


def iter_package(path: Traversable) -> Iterator[PackageFile]:
    """Every JSON resource of a FHIR package .tgz (package.json and indexes left out)."""
    with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as archive:
        package = path.name
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.endswith(".json") or name.startswith("."):
                continue
            if name in ("package.json",) or "/other/" in member.name:
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            try:
                content = orjson.loads(handle.read())
            except orjson.JSONDecodeError:
                continue
            if isinstance(content, dict) and isinstance(content.get("resourceType"), str):
                yield PackageFile(package, name, content)


@cache
def _package_contents(filename: str) -> tuple[PackageFile, ...]:
    return tuple(iter_package(_packages_dir() / filename))


def iter_examples(filename: str) -> Iterator[PackageFile]:
    """The example instances (non-conformance resources) of one vendored package."""
    for item in _package_contents(filename):
        if item.resource["resourceType"] not in CONFORMANCE_TYPES:
            yield item
