"""Build src/tsunagu/validation/data/r4-conformance.json.gz from hl7.fhir.r4.core 4.0.1.

Usage: python scripts/vendor_validation.py path/to/hl7.fhir.r4.core-4.0.1/package.tgz \
           [--jp-core-fsh path/to/jp-core-v1x/input/fsh]

The official core package (CC0) is read directly with tarfile. The output is a gzip-compressed
JSON array of conformance resources trimmed to what validation needs:

- every StructureDefinition of the core (resources, data types, primitives, core extensions and core
  profiles) with its snapshot; narrative and documentation fields are dropped from the
  definition and from each element (definition, comment, requirements, mapping, example ...);
- every ValueSet (compose and, when present, expansion.contains codes) and every CodeSystem
  (concept codes with their nested concepts; displays kept, definitions and designations
  dropped). `tsunagu.validation.packages.PackageIndex` serves them by canonical URL.

With `--jp-core-fsh`, it also writes `data/jp-uri-aliases.json`: the groups of URIs that
JP Core 1.2.0 NamingSystems declare equivalent (OIDs and http URIs), so that the URI changes
between JP Core 1.1.2 and JP-CLINS 1.5.2 are accepted.

The output is deterministic (sorted keys, compact separators, gzip mtime 0).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUTPUT = (
    Path(__file__).resolve().parent.parent / "src/tsunagu/validation/data/r4-conformance.json.gz"
)
ALIASES_OUTPUT = OUTPUT.parent / "jp-uri-aliases.json"
KINDS = ("StructureDefinition", "ValueSet", "CodeSystem")
# The copy of the core package in ePrescriptionData/packages_diff_work also holds JP draft
# definitions (differentials only); they are not part of R4 core and are left out.
EXCLUDED_PREFIXES = ("http://jpfhir.jp/",)

Json = dict[str, Any]

SD_KEYS = (
    "resourceType",
    "id",
    "url",
    "version",
    "name",
    "status",
    "kind",
    "abstract",
    "type",
    "baseDefinition",
    "derivation",
    "context",
    "contextInvariant",
    "fhirVersion",
)
ELEMENT_KEYS = (
    "id",
    "path",
    "sliceName",
    "min",
    "max",
    "base",
    "type",
    "contentReference",
    "slicing",
    "maxLength",
    "isModifier",
    "isSummary",
)
CONSTRAINT_KEYS = ("key", "severity", "human", "expression", "source")
VS_KEYS = ("resourceType", "id", "url", "version", "name", "status", "compose")
CS_KEYS = (
    "resourceType",
    "id",
    "url",
    "version",
    "name",
    "status",
    "caseSensitive",
    "valueSet",
    "hierarchyMeaning",
    "content",
    "count",
)


def iter_resources(tgz: Path) -> Iterator[Json]:
    """Yield every StructureDefinition, ValueSet and CodeSystem of the package."""
    with tarfile.open(tgz, "r:gz") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.endswith(".json"):
                continue
            if not name.startswith(tuple(f"{kind}-" for kind in KINDS)):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            resource = json.loads(handle.read())
            if resource.get("resourceType") not in KINDS:
                continue
            if str(resource.get("url", "")).startswith(EXCLUDED_PREFIXES):
                continue
            yield resource


def trim_element(element: Json) -> Json:
    """Keep the computable part of one ElementDefinition."""
    out = {key: element[key] for key in ELEMENT_KEYS if key in element}
    for key, value in element.items():
        if key.startswith(("fixed", "pattern")) or key == "binding":
            out[key] = value
    if "binding" in out:
        binding = out["binding"]
        out["binding"] = {k: binding[k] for k in ("strength", "valueSet") if k in binding}
    constraints = element.get("constraint")
    if constraints:
        out["constraint"] = [
            {k: c[k] for k in CONSTRAINT_KEYS if k in c} for c in constraints if "key" in c
        ]
    return out


def trim_structure_definition(sd: Json) -> Json:
    out = {key: sd[key] for key in SD_KEYS if key in sd}
    elements = sd.get("snapshot", {}).get("element", [])
    out["snapshot"] = {"element": [trim_element(e) for e in elements]}
    return out


def trim_concepts(concepts: list[Json]) -> list[Json]:
    out: list[Json] = []
    for concept in concepts:
        item: Json = {"code": concept["code"]}
        if "display" in concept:
            item["display"] = concept["display"]
        if concept.get("concept"):
            item["concept"] = trim_concepts(concept["concept"])
        out.append(item)
    return out


def trim_value_set(vs: Json) -> Json:
    out = {key: vs[key] for key in VS_KEYS if key in vs}
    compose = out.get("compose")
    if compose:
        out["compose"] = {k: compose[k] for k in ("include", "exclude", "inactive") if k in compose}
        for part in ("include", "exclude"):
            for item in out["compose"].get(part, []):
                for concept in item.get("concept", []):
                    concept.pop("designation", None)
                    concept.pop("extension", None)
    contains = vs.get("expansion", {}).get("contains")
    if contains and not compose:
        out["expansion"] = {"contains": _flatten_contains(contains)}
    return out


def _flatten_contains(contains: list[Json]) -> list[Json]:
    out: list[Json] = []
    for item in contains:
        if "code" in item:
            out.append({k: item[k] for k in ("system", "code", "display") if k in item})
        out.extend(_flatten_contains(item.get("contains", [])))
    return out


def trim_code_system(cs: Json) -> Json:
    out = {key: cs[key] for key in CS_KEYS if key in cs}
    if cs.get("concept"):
        out["concept"] = trim_concepts(cs["concept"])
    return out


def trim(resource: Json) -> Json:
    kind = resource["resourceType"]
    if kind == "StructureDefinition":
        return trim_structure_definition(resource)
    if kind == "ValueSet":
        return trim_value_set(resource)
    return trim_code_system(resource)


def build(tgz: Path) -> bytes:
    resources = sorted((trim(r) for r in iter_resources(tgz)), key=lambda r: r["url"])
    data = json.dumps(resources, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as out:
        out.write(data.encode("utf-8"))
    return buffer.getvalue()


_ALIAS_LINE = re.compile(r"^Alias:\s*(\$\S+)\s*=\s*(\S+)")
_UNIQUE_VALUE = re.compile(r"^\*\s*uniqueId\[[=+0-9]*\]\.value\s*=\s*(\S+)")


def naming_system_groups(fsh_dir: Path) -> list[list[str]]:
    """URI equivalence groups (urn:oid and http forms) from JP Core FSH NamingSystems.

    Only identifiers are extracted (which URIs name the same code or identifier system);
    an OID `1.2.3` is written as `urn:oid:1.2.3`.
    """
    aliases: dict[str, str] = {}
    for path in sorted(fsh_dir.glob("aliases*.fsh")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _ALIAS_LINE.match(line.strip())
            if match:
                aliases[match.group(1)] = match.group(2)
    groups: list[list[str]] = []
    for path in (fsh_dir / "namingsystems.fsh", fsh_dir / "namingSystemForIdentifier.fsh"):
        current: list[str] = []
        for raw in [*path.read_text(encoding="utf-8").splitlines(), "Instance: end"]:
            line = raw.strip()
            if line.startswith("Instance:"):
                if len(set(current)) > 1:
                    groups.append(sorted(set(current)))
                current = []
                continue
            match = _UNIQUE_VALUE.match(line)
            if not match:
                continue
            value = match.group(1).strip('"')
            value = aliases.get(value, value)
            if re.fullmatch(r"[0-2](\.[0-9]+)+", value):
                value = "urn:oid:" + value
            current.append(value)
    return sorted(groups)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="hl7.fhir.r4.core 4.0.1 package.tgz")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--jp-core-fsh",
        type=Path,
        help="jp-core-v1x/input/fsh: writes the URI alias groups of its NamingSystems",
    )
    args = parser.parse_args(argv)
    payload = build(args.package)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(payload)
    print(f"wrote {args.output} ({len(payload):,} bytes)")
    if args.jp_core_fsh:
        groups = naming_system_groups(args.jp_core_fsh)
        ALIASES_OUTPUT.write_text(json.dumps(groups, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {ALIASES_OUTPUT} ({len(groups)} groups)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
