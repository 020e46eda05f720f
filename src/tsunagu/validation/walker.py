"""The walker: checks one resource against compiled profiles and collects issues.

A `Walk` is made per validation call (it holds the issues and the resource stack); the
compiled trees, rules and matchers it uses are shared and cached. Expressions are FHIRPath
with indexes on repeating elements and JSON names for choices: `Patient.name[0].given[1]`,
`Observation.valueQuantity.code`, `Bundle.entry[2].resource.status`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tsunagu.fhir.outcomes import Issue, Severity
from tsunagu.validation import messages as msg
from tsunagu.validation.aliases import UriAliases, contains, equal
from tsunagu.validation.fhirpath import Env
from tsunagu.validation.invariants import STATE, Invariants
from tsunagu.validation.model import BACKBONE_TYPES, Node, TypeRef
from tsunagu.validation.ports import Terminology
from tsunagu.validation.primitives import CHECKS
from tsunagu.validation.references import (
    allowed_targets,
    coded_type,
    codings,
    local_references,
    reference_problem,
)
from tsunagu.validation.registry import Profile, Registry
from tsunagu.validation.rules import PRIMITIVE_EXTENSION, ObjectRule, rule_for
from tsunagu.validation.slice_index import candidates_for, slice_table
from tsunagu.validation.slicing import matchers, matches

_CODED = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})
IGNORED_KEYS = frozenset({"fhir_comments"})


@dataclass
class Frame:
    """A resource being walked: the resource, its contained ids, its container frame."""

    resource: dict[str, Any]
    contained_ids: frozenset[str]
    root: dict[str, Any]


@dataclass
class Shared:
    """What every walk shares: compiled definitions, invariants and terminology."""

    registry: Registry
    invariants: Invariants
    terminology: Terminology
    aliases: UriAliases
    resource_types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.resource_types = self.registry.resource_types()


@dataclass
class Walk:
    shared: Shared
    issues: dict[tuple[str, str, str, str], Issue] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)
    bundle_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _conform_cache: dict[tuple[int, str], bool] = field(default_factory=dict)

    # ---- issues

    def add(self, code: str, message: str, path: str, severity: Severity = "error") -> None:
        key = (severity, code, message, path)
        if key not in self.issues:
            self.issues[key] = Issue(code, message, severity, (path,))

    def has_errors(self) -> bool:
        return any(i.severity in ("error", "fatal") for i in self.issues.values())

    # ---- resources

    def resource(
        self, resource: Any, path: str, profiles: tuple[Profile, ...], expected: str | None
    ) -> None:
        """Validate a resource against `profiles` (its base definition when empty)."""
        registry = self.shared.registry
        if not isinstance(resource, dict):
            self.add("structure", msg.not_object("Resource"), path)
            return
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or kind not in registry.resource_types():
            # At the top the resource has no type to name its path: `Resource.resourceType`;
            # a nested one is reported at its element (`Observation.contained[0]`).
            where = f"{path}.resourceType" if path == "Resource" else path
            self.add("structure", msg.unknown_resource_type(), where)
            return
        if expected and expected not in ("Resource", "DomainResource") and kind != expected:
            self.add("structure", msg.wrong_resource_type(expected), path)
            return
        applicable = [p for p in profiles if p.type == kind]
        for profile in profiles:
            if profile.type != kind:
                self.add("structure", msg.profile_type_mismatch(profile.url, profile.type), path)
        if not applicable:
            base = registry.base(kind)
            if base is None:
                self.add("structure", msg.unknown_resource_type(), path)
                return
            applicable = [base]
        contained = resource.get("contained")
        ids = frozenset(
            str(c.get("id")) for c in contained or () if isinstance(c, dict) and "id" in c
        )
        root = self.frames[0].root if self.frames else resource
        self.frames.append(Frame(resource, ids, root))
        try:
            if kind == "Bundle" and not self.bundle_entries:
                self._index_bundle(resource)
            for profile in applicable:
                self.structure(resource, profile.root, kind, path, is_resource=True)
            if contained:
                self._contained_rules(resource, path)
        finally:
            self.frames.pop()

    def _index_bundle(self, bundle: dict[str, Any]) -> None:
        for entry in bundle.get("entry") or ():
            if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str):
                target = entry.get("resource")
                if isinstance(target, dict):
                    self.bundle_entries[entry["fullUrl"]] = target
                    kind, rid = target.get("resourceType"), target.get("id")
                    if isinstance(kind, str) and isinstance(rid, str):
                        self.bundle_entries.setdefault(f"{kind}/{rid}", target)

    def profiles_of(self, resource: Any, declared: tuple[str, ...], path: str) -> list[Profile]:
        """Compiled profiles for a nested resource: the element's type profiles and the
        known ones of its meta.profile (unknown ones give a warning)."""
        registry = self.shared.registry
        found: dict[str, Profile] = {}
        for url in declared:
            profile = registry.profile(url)
            if profile is not None:
                found[profile.url] = profile
        meta = resource.get("meta") if isinstance(resource, dict) else None
        for index, url in enumerate(meta.get("profile") or () if isinstance(meta, dict) else ()):
            if not isinstance(url, str):
                continue
            profile = registry.profile(url)
            if profile is not None:
                found[profile.url] = profile
            elif not registry.known(url):
                self.add(
                    "not-supported",
                    msg.unknown_profile(url, required=False),
                    f"{path}.meta.profile[{index}]",
                    "warning",
                )
            else:
                self.add(
                    "not-supported",
                    msg.profile_without_snapshot(url),
                    f"{path}.meta.profile[{index}]",
                    "warning",
                )
        return list(found.values())

    def _one_of(self, item: Any, declared: tuple[str, ...]) -> tuple[str, ...]:
        """Several type profiles mean "conforms to one of them": the one the resource names
        in meta.profile, else the first it conforms to, else the first."""
        if len(declared) < 2:
            return declared
        meta = item.get("meta") if isinstance(item, dict) else None
        named = {
            str(p).split("|", 1)[0]
            for p in (meta.get("profile") or () if isinstance(meta, dict) else ())
        }
        for url in declared:
            if url.split("|", 1)[0] in named:
                return (url,)
        for url in declared:
            if self.conforms(item, url):
                return (url,)
        return declared[:1]

    def _contained_rules(self, resource: dict[str, Any], path: str) -> None:
        contained = resource.get("contained")
        if not isinstance(contained, list):
            return
        referenced = local_references(resource)
        for index, item in enumerate(contained):
            if not isinstance(item, dict):
                continue
            item_path = f"{path}.contained[{index}]"
            if "contained" in item:
                self.add("invariant", msg.contained_nested(), item_path)
            meta = item.get("meta")
            if isinstance(meta, dict):
                if "versionId" in meta or "lastUpdated" in meta:
                    self.add("invariant", msg.contained_meta("dom-4"), item_path)
                if "security" in meta:
                    self.add("invariant", msg.contained_meta("dom-5"), item_path)
            if item.get("id") not in referenced:
                self.add("invariant", msg.contained_unreferenced(), item_path)

    # ---- objects

    def structure(
        self, obj: Any, node: Node, type_code: str, path: str, *, is_resource: bool = False
    ) -> None:
        """Check a JSON object against the rule of (node, type)."""
        if not isinstance(obj, dict):
            self.add("structure", msg.not_object(type_code), path)
            return
        if not obj:
            self.add("structure", msg.empty_value(), path)
            return
        rule = node.cache.get(type_code)
        if rule is None:
            rule = rule_for(node, type_code, self.shared.registry)
            node.cache[type_code] = rule
        counts: dict[Node, int] = {}
        props = rule.props
        for key, value in obj.items():
            prop = props.get(key)
            if prop is None:
                if (is_resource and key == "resourceType") or key in IGNORED_KEYS:
                    continue
                self.add("structure", msg.unknown_element(key), f"{path}.{key}")
                continue
            child = prop.node
            plain = prop.plain_check
            if plain is not None and value is not None and type(value) is not list:
                counts[child] = counts.get(child, 0) + 1
                expected = plain(value)
                if expected is not None:
                    self.add("value", msg.bad_primitive(prop.type.code, expected), f"{path}.{key}")
                continue
            size = len(value) if type(value) is list else 1
            if prop.is_primitive_extension:
                if key[1:] not in obj:
                    counts[child] = counts.get(child, 0) + size
                self.primitive_extension(child, value, obj.get(key[1:]), f"{path}.{key[1:]}")
                continue
            counts[child] = counts.get(child, 0) + size
            if child.repeats or child.slicing is not None or type(value) is list:
                self.element(child, prop.type, key, value, obj, path)
            elif value is None:
                self.add("structure", msg.empty_value(), f"{path}.{key}")
            else:
                self.item(child, prop.type, value, f"{path}.{key}")
        if rule.counted:
            self._cardinality(rule, counts, path)
        if rule.constraints:
            self._invariants(rule, obj, node, type_code, path, is_resource)

    def _cardinality(self, rule: ObjectRule, counts: dict[Node, int], path: str) -> None:
        for child in rule.counted:
            count = counts.get(child, 0)
            name = child.name
            if count < child.min:
                self.add("required", msg.missing(name, child.min), f"{path}.{name}")
            elif count > child.max:
                self.add("structure", msg.too_many(name, count, child.max), f"{path}.{name}")

    def element(
        self,
        node: Node,
        type_ref: TypeRef,
        key: str,
        value: Any,
        obj: dict[str, Any],
        path: str,
    ) -> None:
        """Check one JSON property (all its items) of an object."""
        base_path = f"{path}.{key}"
        if node.repeats:
            if not isinstance(value, list):
                self.add("structure", msg.must_be_array(), base_path)
                return
            if not value:
                self.add("structure", msg.empty_value(), base_path)
                return
            items = value
        else:
            if isinstance(value, list):
                self.add("structure", msg.must_not_be_array(), base_path)
                return
            items = [value]
        partner = obj.get("_" + key) if node.repeats else None
        if node.slicing is not None and node.slices and not node.is_choice:
            self.sliced(node, type_ref, items, base_path)
            return
        for index, item in enumerate(items):
            item_path = f"{base_path}[{index}]" if node.repeats else base_path
            if item is None:
                if not (
                    isinstance(partner, list)
                    and index < len(partner)
                    and partner[index] is not None
                ):
                    self.add("structure", msg.empty_value(), item_path)
                continue
            self.item(node, type_ref, item, item_path)

    def primitive_extension(self, node: Node, value: Any, partner: Any, path: str) -> None:
        """The `_name` object (or array) holding id/extension of a primitive."""
        if node.repeats:
            if not isinstance(value, list):
                self.add("structure", msg.must_be_array(), path)
                return
            if isinstance(partner, list) and len(partner) != len(value):
                self.add("structure", msg.primitive_extension_mismatch(), path)
            for index, item in enumerate(value):
                if item is not None:
                    self.structure(item, node, PRIMITIVE_EXTENSION, f"{path}[{index}]")
            return
        self.structure(value, node, PRIMITIVE_EXTENSION, path)

    def item(self, node: Node, type_ref: TypeRef, item: Any, path: str) -> None:
        """Check one value of an element against its type and the element's rules."""
        code = type_ref.code
        check = CHECKS.get(code)
        if check is not None:
            expected = check(item)
            if expected is not None:
                self.add("value", msg.bad_primitive(code, expected), path)
                return
            if node.max_length and isinstance(item, str) and len(item) > node.max_length:
                self.add("value", msg.too_long(node.max_length), path)
        elif code == "Resource" or code in self.shared.resource_types:
            self.nested_resource(item, type_ref, path)
            return
        elif code == "Extension":
            if not isinstance(item, dict):
                self.add("structure", msg.not_object(code), path)
                return
            self.extension(node, type_ref, item, path)
        else:
            target = node
            if type_ref.profiles and not node.children:
                profile = self.shared.registry.profile(type_ref.profiles[0])
                if profile is not None:
                    target = profile.root
            self.structure(item, target, code, path)
            if code == "Reference" and isinstance(item, dict):
                self.reference(node, item, path)
        aliases = self.shared.aliases
        if node.fixed is not None and not equal(item, node.fixed[1], aliases):
            self.add("value", msg.fixed_mismatch("fixed"), path)
        elif node.pattern is not None and not contains(item, node.pattern[1], aliases):
            self.add("value", msg.fixed_mismatch("pattern"), path)
        if node.binding is not None and code in _CODED:
            self.binding(node.binding, code, item, path)

    def nested_resource(self, item: Any, type_ref: TypeRef, path: str) -> None:
        profiles = self.profiles_of(item, self._one_of(item, type_ref.profiles), path)
        expected = type_ref.code if type_ref.code != "Resource" else None
        self.resource(item, path, tuple(profiles), expected)

    # ---- extensions

    def extension(self, node: Node, type_ref: TypeRef, item: dict[str, Any], path: str) -> None:
        registry = self.shared.registry
        url = item.get("url")
        has_value = any(k.startswith(("value", "_value")) for k in item)
        if has_value == ("extension" in item):
            self.add("invariant", msg.extension_shape(), path)
        target: Node | None = None
        if node.children:
            target = node
        elif type_ref.profiles:
            profile = registry.profile(type_ref.profiles[0])
            target = profile.root if profile is not None else None
        elif isinstance(url, str):
            if registry.known(url):
                profile = registry.profile(url)
                target = profile.root if profile is not None else None
            elif ":" in url:
                self.add("structure", msg.unknown_extension(url), path, "warning")
            allowed = node.cache.get("context:" + url)
            if allowed is None:
                allowed = node.cache["context:" + url] = self._context_allows(node, url)
            if target is not None and not allowed:
                self.add("structure", msg.extension_context(url), path)
        if not isinstance(url, str):
            self.add("structure", msg.extension_url(), path)
        if target is None:
            base = registry.base("Extension")
            assert base is not None
            target = base.root
        self.structure(item, target, "Extension", path)

    def _context_allows(self, node: Node, url: str) -> bool:
        """Is an extension defined for the element hosting it? Checked only where the host
        is a resource or one of its backbone elements and every context is an element path
        (other contexts need the instance path and are accepted)."""
        host = node.path.rsplit(".", 1)[0]
        if host.split(".", 1)[0] not in self.shared.resource_types:
            return True
        definition = self.shared.registry.definition(url)
        contexts = (definition or {}).get("context") or ()
        if not contexts or any(c.get("type") != "element" for c in contexts):
            return True
        allowed = {"Element", host}
        if "." in host:
            allowed.add("BackboneElement")
        else:
            allowed.update({"Resource", "DomainResource"})
        return any(str(c.get("expression", "")) in allowed for c in contexts)

    # ---- slicing

    def sliced(self, node: Node, type_ref: TypeRef, items: list[Any], path: str) -> None:
        slicing = node.slicing
        assert slicing is not None
        registry = self.shared.registry
        assigned: list[int] = []
        table = slice_table(node, registry, self.shared.aliases)
        for item in items:
            candidates: Iterable[int] = range(len(node.slices))
            if table is not None:
                candidates = candidates_for(node, table, item, registry, self.shared.aliases)
            chosen = -1
            for position in candidates:
                slice_node = node.slices[position]
                found = matchers(node, slice_node, registry)
                if matches(
                    item,
                    slice_node,
                    found,
                    json_type=type_ref.code,
                    conforms=self.conforms,
                    fits=self.fits,
                    code_check=self.code_check,
                    aliases=self.shared.aliases,
                ):
                    chosen = position
                    break
            assigned.append(chosen)
        counts: dict[int, int] = {}
        for index, (item, chosen) in enumerate(zip(items, assigned, strict=True)):
            item_path = f"{path}[{index}]" if node.repeats else path
            if item is None:
                self.add("structure", msg.empty_value(), item_path)
                continue
            if chosen < 0:
                if slicing.rules == "closed":
                    self.add("structure", msg.no_slice_matched(node.name), item_path)
                    continue
                self.item(node, type_ref, item, item_path)
                continue
            counts[chosen] = counts.get(chosen, 0) + 1
            slice_node = node.slices[chosen]
            slice_type = slice_node.types[0] if slice_node.types else type_ref
            self.item(slice_node, slice_type, item, item_path)
        matched = [c for c in assigned if c >= 0]
        if slicing.ordered and matched != sorted(matched):
            self.add("structure", msg.slice_order(node.name), path)
        if slicing.rules == "openAtEnd":
            seen_open = False
            for chosen in assigned:
                if chosen < 0:
                    seen_open = True
                elif seen_open:
                    self.add("structure", msg.slice_order(node.name), path)
                    break
        required = node.cache.get("required_slices")
        if required is None:
            required = [i for i, n in enumerate(node.slices) if n.min > 0]
            node.cache["required_slices"] = required
        for position in sorted(set(required) | set(counts)):
            slice_node = node.slices[position]
            count = counts.get(position, 0)
            name = slice_node.slice_name or ""
            if count < slice_node.min:
                self.add("required", msg.slice_missing(node.name, name, slice_node.min), path)
            elif count > slice_node.max:
                self.add("structure", msg.slice_too_many(node.name, name, slice_node.max), path)

    def conforms(self, item: Any, url: str) -> bool:
        """Does a value conform to a profile (resource or data type)? Cached per walk."""
        key = (id(item), url)
        found = self._conform_cache.get(key)
        if found is not None:
            return found
        registry = self.shared.registry
        profile = registry.profile(url)
        if profile is None:
            result = True
        else:
            if isinstance(item, dict) and "resourceType" in item:
                declared = (item.get("meta") or {}).get("profile") or ()
                if item["resourceType"] != profile.type:
                    result = False
                elif any(str(p).split("|", 1)[0] == profile.url for p in declared):
                    result = True
                else:
                    result = self._sub_walk_ok(lambda w: w.resource(item, "x", (profile,), None))
            else:
                result = self._sub_walk_ok(
                    lambda w: w.item(profile.root, TypeRef(profile.type), item, "x")
                )
        self._conform_cache[key] = result
        return result

    def fits(self, item: Any, slice_node: Node) -> bool:
        """Does a value satisfy a slice's own definition (fallback slice matching)?"""
        type_ref = slice_node.types[0] if slice_node.types else TypeRef("Element")
        return self._sub_walk_ok(lambda w: w.item(slice_node, type_ref, item, "x"))

    def _sub_walk_ok(self, run: Any) -> bool:
        sub = Walk(self.shared, frames=list(self.frames), bundle_entries=self.bundle_entries)
        sub._conform_cache = self._conform_cache
        run(sub)
        return not sub.has_errors()

    # ---- references and bindings

    def reference(self, node: Node, item: dict[str, Any], path: str) -> None:
        reference = item.get("reference")
        if not isinstance(reference, str):
            return
        frame = self._container_frame() if self.frames else None
        problem = reference_problem(
            reference,
            allowed_targets(node, self.shared.registry),
            self.shared.resource_types,
            self.bundle_entries,
            frame.contained_ids if frame is not None else None,
        )
        if problem is not None:
            code, message = problem
            self.add(code, message, f"{path}.reference")

    def _container_frame(self) -> Frame:
        # The nearest frame holding contained resources (a contained resource's references
        # to `#id` point into its container).
        for frame in reversed(self.frames):
            if frame.contained_ids:
                return frame
        return self.frames[-1]

    def code_check(self, value: Any, value_set: str) -> str:
        pairs = codings(value, "code" if isinstance(value, str) else coded_type(value))
        results = [
            self.shared.terminology.check_code(value_set.split("|", 1)[0], system, code)
            for system, code in pairs
        ]
        if "valid" in results:
            return "valid"
        if not results or "unknown" in results:
            return "unknown"
        return "invalid"

    def binding(self, binding: tuple[str, str], code: str, item: Any, path: str) -> None:
        strength, value_set = binding
        if strength not in ("required", "extensible", "preferred"):
            return
        pairs = codings(item, code)
        if not pairs:
            return
        check = self.shared.terminology.check_code
        url = value_set.split("|", 1)[0]
        results = [check(url, system, value) for system, value in pairs]
        if "valid" in results or "unknown" in results:
            return
        severity: Severity = "error" if strength == "required" else "warning"
        self.add("code-invalid", msg.code_not_in_value_set(url, strength), path, severity)

    # ---- invariants

    def _invariants(
        self,
        rule: ObjectRule,
        obj: dict[str, Any],
        node: Node,
        type_code: str,
        path: str,
        is_resource: bool,
    ) -> None:
        invariants = self.shared.invariants
        frame = self.frames[-1] if self.frames else None
        resource = frame.resource if frame else obj
        root = frame.root if frame else obj
        if is_resource:
            type_key = None
        elif type_code in BACKBONE_TYPES:
            type_key = node.path
        else:
            type_key = type_code
        STATE.resolve = self._resolve
        STATE.conforms = self.conforms
        env = Env(resource, root, self._resolve, self.conforms, STATE.member_of)
        prepared = rule.prepared
        if prepared is None:
            prepared = tuple(invariants.prepare(c) for c in rule.constraints)
            object.__setattr__(rule, "prepared", prepared)
        for constraint, ready in zip(rule.constraints, prepared, strict=True):
            result = invariants.run(ready, constraint, obj, type_key, env)
            if result is False:
                severity: Severity = "error" if constraint.severity == "error" else "warning"
                self.add(
                    "invariant", msg.invariant(constraint.key, constraint.human), path, severity
                )

    def _resolve(self, reference: str) -> Any:
        if reference.startswith("#") and self.frames:
            for frame in reversed(self.frames):
                for item in frame.resource.get("contained") or ():
                    if isinstance(item, dict) and item.get("id") == reference[1:]:
                        return item
            return None
        return self.bundle_entries.get(reference)
