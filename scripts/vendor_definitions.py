"""Build src/tsunagu/fhir/data/r4-core.json.gz from the official FHIR R4 examples package.

Usage: python scripts/vendor_definitions.py path/to/hl7.fhir.r4.examples-4.0.1.tgz

The package is read directly with tarfile; only StructureDefinition, SearchParameter and
CompartmentDefinition resources are used. Besides summaries and search parameters, the output
holds an element type map of every resource and data type (see `ElementTableBuilder`).
The output is deterministic (sorted keys, compact separators, gzip mtime 0) so re-running the
script on the same input yields identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FHIR_VERSION = "4.0.1"
OUTPUT = Path(__file__).resolve().parent.parent / "src/tsunagu/fhir/data/r4-core.json.gz"
COMPARTMENT_URL = "http://hl7.org/fhir/CompartmentDefinition/"
FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
FHIRPATH_SYSTEM = "http://hl7.org/fhirpath/System."
TYPE_KINDS = ("resource", "complex-type", "primitive-type")
BACKBONE_TYPES = ("BackboneElement", "Element")

Json = dict[str, Any]
# A summary tree maps JSON property names to True (keep whole), a nested tree (recurse), or
# a dotted path string pointing at an enclosing node of the same resource (recursive types).
SummaryTree = dict[str, Any]


def iter_package(tgz: Path) -> Iterator[tuple[str, Json]]:
    """Yield (file name, parsed JSON) for every relevant definition in the package."""
    prefixes = ("StructureDefinition-", "SearchParameter-", "CompartmentDefinition-")
    with tarfile.open(tgz, "r:gz") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.endswith(".json"):
                continue
            if not name.startswith(prefixes):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            yield name, json.loads(handle.read())


def is_concrete_resource(sd: Json) -> bool:
    """True for the StructureDefinition of a concrete (instantiable) core resource type."""
    return (
        sd.get("kind") == "resource"
        and sd.get("derivation") == "specialization"
        and not sd.get("abstract", False)
    )


def json_names(element: Json) -> list[str]:
    """The JSON property names an element can appear as (choice elements expand by type)."""
    name: str = element["path"].rsplit(".", 1)[-1]
    if not name.endswith("[x]"):
        return [name]
    stem = name[:-3]
    names = []
    for type_ref in element.get("type", []):
        code: str = type_ref["code"]
        if "/" in code:
            raise ValueError(f"unexpected type code {code!r} on choice {element['path']}")
        names.append(stem + code[0].upper() + code[1:])
    return names


class SummaryBuilder:
    """Builds the nested isSummary tree of one resource StructureDefinition."""

    def __init__(self, sd: Json) -> None:
        self.root: str = sd["type"]
        self.children: dict[str, list[Json]] = {}
        for element in sd["snapshot"]["element"]:
            path: str = element["path"]
            if "." in path:
                self.children.setdefault(path.rsplit(".", 1)[0], []).append(element)

    def build(self) -> SummaryTree:
        """Return the summary tree of the resource, verifying that every reference resolves."""
        tree = self.node(self.root)
        self._check_references(tree, tree)
        return tree

    def node(self, path: str) -> SummaryTree:
        """Summary children of the element at `path`."""
        tree: SummaryTree = {}
        for element in self.children.get(path, []):
            if not element.get("isSummary", False):
                continue
            value = self.value(element)
            for name in json_names(element):
                tree[name] = value
        return tree

    def value(self, element: Json) -> Any:
        """True, a nested tree, or a back-reference path for one summary element."""
        path: str = element["path"]
        reference: str | None = element.get("contentReference")
        if reference is not None:
            target = reference.lstrip("#")
            if path.startswith(target + "."):
                # Recursive structure (e.g. Parameters.parameter.part): point back up.
                return target.split(".", 1)[1]
            return self.node(target)
        if path in self.children:
            return self.node(path)
        return True

    def _check_references(self, tree: SummaryTree, root: SummaryTree) -> None:
        for value in tree.values():
            if isinstance(value, str):
                node: Any = root
                for step in value.split("."):
                    node = node[step] if isinstance(node, dict) else None
                if not isinstance(node, dict):
                    raise ValueError(f"{self.root}: unresolvable summary reference {value!r}")
            elif isinstance(value, dict):
                self._check_references(value, root)


def is_type_definition(sd: Json) -> bool:
    """True for the definition of a core resource or data type, abstract bases included."""
    return (
        sd.get("kind") in TYPE_KINDS
        and sd.get("derivation", "specialization") == "specialization"
        and "snapshot" in sd
    )


def type_code(type_ref: Json, path: str) -> str:
    """The FHIR type code of an element type; FHIRPath System types map to their FHIR type."""
    code: str = type_ref["code"]
    if not code.startswith(FHIRPATH_SYSTEM):
        return code
    for extension in type_ref.get("extension", []):
        if extension.get("url") == FHIR_TYPE_EXTENSION:
            return str(extension["valueUrl"])
    raise ValueError(f"{path}: FHIRPath system type {code} without a FHIR type")


class ElementTableBuilder:
    """Encodes the own (not inherited) elements of one type definition, per owner key.

    Owner keys are type names (`Patient`, `HumanName`) and backbone element paths
    (`Patient.contact`). Each owner maps an element name as defined (choices keep `[x]`)
    to a spec string: an optional `*` (repeating), then either `|`-joined type codes, `@`
    and the type code of a backbone element (its children are under `<owner>.<name>`), or
    `>` and the owner key a contentReference points at. Inherited elements (`Patient.id`
    from `Resource.id`, `Patient.contact.id` from `Element.id`) are left to the base type.
    """

    def __init__(self, sd: Json) -> None:
        self.root: str = sd["type"]
        self.elements: list[Json] = sd["snapshot"]["element"]
        self.parents = {e["path"].rsplit(".", 1)[0] for e in self.elements if "." in e["path"]}

    def build(self) -> dict[str, dict[str, str]]:
        """Owner key -> element name -> spec string, for this type and its backbones."""
        table: dict[str, dict[str, str]] = {self.root: {}}
        for element in self.elements:
            path: str = element["path"]
            if "." not in path or element.get("base", {}).get("path") != path:
                continue
            owner, name = path.rsplit(".", 1)
            table.setdefault(owner, {})[name] = self.spec(element)
        return table

    def spec(self, element: Json) -> str:
        """The spec string of one element."""
        path: str = element["path"]
        repeats = "*" if element.get("max", "1") != "1" else ""
        reference: str | None = element.get("contentReference")
        if reference is not None:
            return f"{repeats}>{reference.lstrip('#')}"
        codes = [type_code(t, path) for t in element.get("type", [])]
        if not codes or len(set(codes)) != len(codes):
            raise ValueError(f"{path}: bad type list {codes}")
        if path in self.parents:
            if len(codes) != 1 or codes[0] not in BACKBONE_TYPES:
                raise ValueError(f"{path}: element with children typed {codes}")
            return f"{repeats}@{codes[0]}"
        return repeats + "|".join(codes)


def type_parents(sds: list[Json]) -> dict[str, str]:
    """Type name -> the type it specializes, for every type but Resource and Element."""
    parents = {}
    for sd in sds:
        base = sd.get("baseDefinition")
        if base is not None:
            parents[sd["type"]] = str(base).rsplit("/", 1)[-1]
    return parents


def element_tables(sds: list[Json]) -> dict[str, dict[str, str]]:
    """Merged element tables of all type definitions, checking references and owner keys."""
    tables: dict[str, dict[str, str]] = {}
    for sd in sds:
        if sd["kind"] == "primitive-type":
            continue  # only `id`, `extension` and the System-typed `value`
        for owner, elements in ElementTableBuilder(sd).build().items():
            if owner in tables:
                raise ValueError(f"duplicate element owner {owner}")
            tables[owner] = elements
    for owner, elements in tables.items():
        for name, spec in elements.items():
            body = spec.lstrip("*")
            if body.startswith(">") and body[1:] not in tables:
                raise ValueError(f"{owner}.{name}: dangling reference {body}")
            if body.startswith("@") and f"{owner}.{name}" not in tables:
                raise ValueError(f"{owner}.{name}: backbone without children")
    return tables


def top_level(sd: Json) -> list[Json]:
    """The direct children of the resource root element."""
    root: str = sd["type"]
    return [
        e
        for e in sd["snapshot"]["element"]
        if e["path"].count(".") == 1 and e["path"].startswith(root + ".")
    ]


def mandatory_elements(sd: Json) -> list[str]:
    """Top-level element names (as in the definition, e.g. `value[x]`) with min >= 1."""
    return sorted(e["path"].split(".", 1)[1] for e in top_level(sd) if e.get("min", 0) >= 1)


def choice_elements(sd: Json) -> dict[str, list[str]]:
    """Top-level choice elements: stem (e.g. `deceased`) -> concrete JSON names."""
    choices = {}
    for element in top_level(sd):
        name: str = element["path"].split(".", 1)[1]
        if name.endswith("[x]"):
            choices[name[:-3]] = json_names(element)
    return choices


def base_type(sd: Json) -> str:
    """`DomainResource` or `Resource`: the abstract type a resource specializes."""
    return str(sd["baseDefinition"]).rsplit("/", 1)[-1]


def compact_search_parameter(sp: Json) -> Json:
    """Keep only the computable parts of a SearchParameter."""
    entry: Json = {
        "url": sp["url"],
        "code": sp["code"],
        "base": list(sp.get("base", [])),
        "type": sp["type"],
    }
    for key in ("expression", "xpathUsage", "multipleOr", "multipleAnd"):
        if key in sp:
            entry[key] = sp[key]
    for key in ("target", "modifier", "comparator", "chain"):
        if sp.get(key):
            entry[key] = list(sp[key])
    if sp.get("component"):
        entry["component"] = [
            {"definition": c["definition"], "expression": c["expression"]} for c in sp["component"]
        ]
    if sp.get("experimental", False):
        entry["experimental"] = True
    return entry


def compartment_entry(cd: Json) -> tuple[str, dict[str, list[str]]] | None:
    """(compartment code, {resourceType: [param codes]}) for a core compartment, else None."""
    code: str = cd["code"]
    # The package also holds an example CompartmentDefinition (code Device, id `example`).
    if cd.get("url") != COMPARTMENT_URL + code[0].lower() + code[1:]:
        return None
    members = {r["code"]: list(r["param"]) for r in cd.get("resource", []) if r.get("param")}
    return code, members


def build(tgz: Path) -> Json:
    """Assemble the whole vendored document from the package."""
    sds: list[Json] = []
    type_sds: list[Json] = []
    search_parameters: list[Json] = []
    compartments: dict[str, dict[str, list[str]]] = {}
    for name, resource in iter_package(tgz):
        if name.startswith("StructureDefinition-") and is_type_definition(resource):
            type_sds.append(resource)
            if is_concrete_resource(resource):
                sds.append(resource)
        elif name.startswith("SearchParameter-"):
            search_parameters.append(compact_search_parameter(resource))
        elif name.startswith("CompartmentDefinition-"):
            found = compartment_entry(resource)
            if found is not None:
                if found[0] in compartments:
                    raise ValueError(f"duplicate compartment {found[0]}")
                compartments[found[0]] = found[1]
    sds.sort(key=lambda sd: str(sd["type"]))
    type_sds.sort(key=lambda sd: str(sd["type"]))
    search_parameters.sort(key=lambda sp: str(sp["url"]))
    return {
        "fhirVersion": FHIR_VERSION,
        "resourceTypes": [sd["type"] for sd in sds],
        "resourceBases": {sd["type"]: base_type(sd) for sd in sds},
        "summary": {sd["type"]: SummaryBuilder(sd).build() for sd in sds},
        "mandatory": {sd["type"]: mandatory_elements(sd) for sd in sds},
        "choices": {sd["type"]: choice_elements(sd) for sd in sds if choice_elements(sd)},
        "searchParameters": search_parameters,
        "compartments": compartments,
        "typeParents": type_parents(type_sds),
        "primitiveTypes": [sd["type"] for sd in type_sds if sd["kind"] == "primitive-type"],
        "elementTypes": element_tables(type_sds),
    }


def encode(document: Json) -> bytes:
    """Deterministic gzip-compressed compact JSON."""
    raw = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(raw.encode("utf-8"))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="hl7.fhir.r4.examples-4.0.1.tgz")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    document = build(args.package)
    data = encode(document)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(
        f"wrote {args.output} ({len(data):,} bytes): "
        f"{len(document['resourceTypes'])} resource types, "
        f"{len(document['searchParameters'])} search parameters, "
        f"{len(document['compartments'])} compartments, "
        f"{len(document['elementTypes'])} element owners"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
