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
from tsunagu.validation.references import (
    allowed_targets,
    coded_type,
    codings,
    local_references,
    reference_problem,
)
from tsunagu.validation.registry import Profile, Registry
from tsunagu.validation.rules import (
    CODED,
    COMPLEX,
    PRIMITIVE,
    PRIMITIVE_EXTENSION,
    RESOURCE,
    ItemPlan,
    ObjectRule,
    Prop,
    plan_of,
    rule_for,
    slice_plan,
)
from tsunagu.validation.slice_index import candidates_for, slice_table
from tsunagu.validation.slicing import Matcher, matchers, matches

IGNORED_KEYS = frozenset({"fhir_comments"})


@dataclass
class Frame:
    """A resource being walked: the resource, its contained ids, its container frame."""

    resource: dict[str, Any]
    contained_ids: frozenset[str]
    root: dict[str, Any]


@dataclass(frozen=True)
class Replay:
    """The issues of one resource walked against one profile (paths start with `x`), and
    the state they depend on: the frames it was walked in and whether the Bundle entries
    had been indexed."""

    item: dict[str, Any]
    profile: Profile
    frames: tuple[Frame, ...]
    bundle_size: int
    issues: dict[tuple[str, str, str, str], Issue]


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
    _replays: dict[tuple[int, str], Replay] = field(default_factory=dict)
    # The invariant environment of the frame last used (one per resource being walked).
    _env_frame: Frame | None = None
    _env: Env | None = None

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
            str(c.get("id"))
            for c in (contained if isinstance(contained, list) else ())
            if isinstance(c, dict) and "id" in c
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
        declared_urls = meta.get("profile") if isinstance(meta, dict) else None
        # Not a list: the structure check reports it; no profile is taken from it.
        for index, url in enumerate(declared_urls if isinstance(declared_urls, list) else ()):
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
            item_id = item.get("id")  # not a string: reported by the structure check
            if (item_id if isinstance(item_id, str) else None) not in referenced:
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
        # Only the elements of `rule.counted` are counted; the path of a child is built
        # when it is needed (an issue, or a value to descend into).
        counts: dict[Node, int] = {}
        over = False  # some counted element occurs more often than its max
        props = rule.props
        add = self.add
        for key, value in obj.items():
            prop = props.get(key)
            if prop is None:
                if (is_resource and key == "resourceType") or key in IGNORED_KEYS:
                    continue
                add("structure", msg.unknown_element(key), f"{path}.{key}")
                continue
            child = prop.node
            plain = prop.plain_check
            if plain is not None and value is not None and type(value) is not list:
                if prop.counted:
                    count = counts[child] = counts.get(child, 0) + 1
                    if count > child.max:
                        over = True
                expected = plain(value)
                if expected is not None:
                    add("value", msg.bad_primitive(prop.type.code, expected), f"{path}.{key}")
                continue
            if prop.is_primitive_extension:
                if prop.counted and key[1:] not in obj:
                    size = len(value) if type(value) is list else 1
                    count = counts[child] = counts.get(child, 0) + size
                    if count > child.max or not size:
                        over = True
                self.primitive_extension(child, value, obj.get(key[1:]), f"{path}.{key[1:]}")
                continue
            if prop.counted:
                size = len(value) if type(value) is list else 1
                count = counts[child] = counts.get(child, 0) + size
                if count > child.max or not size:
                    over = True
            if prop.as_element or type(value) is list:
                self.element(prop, key, value, obj, path)
            elif value is None:
                add("structure", msg.empty_value(), f"{path}.{key}")
            else:
                plan = prop.plan or plan_of(prop, self.shared.registry)
                self.planned(plan, value, f"{path}.{key}")
        # Every count is checked only when one may be wrong: over a max, an empty array
        # (counted 0), a required name absent, or another required element short.
        if over or not obj.keys() >= rule.required_names:
            self._cardinality(rule, counts, path)
        else:
            for child in rule.required_other:
                if counts.get(child, 0) < child.min:
                    self._cardinality(rule, counts, path)
                    break
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

    def element(self, prop: Prop, key: str, value: Any, obj: dict[str, Any], path: str) -> None:
        """Check one JSON property (all its items) of an object."""
        node = prop.node
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
        plan = prop.plan or plan_of(prop, self.shared.registry)
        if node.slicing is not None and node.slices and not node.is_choice:
            self.sliced(plan, items, base_path)
            return
        repeats = node.repeats
        for index, item in enumerate(items):
            item_path = f"{base_path}[{index}]" if repeats else base_path
            if item is None:
                partner = obj.get("_" + key) if repeats else None
                if not (
                    isinstance(partner, list)
                    and index < len(partner)
                    and partner[index] is not None
                ):
                    self.add("structure", msg.empty_value(), item_path)
                continue
            self.planned(plan, item, item_path)

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
        self.planned(ItemPlan(node, type_ref, self.shared.registry), item, path)

    def planned(self, plan: ItemPlan, item: Any, path: str) -> None:
        """`item` with the decisions about (element, type) made beforehand."""
        kind = plan.kind
        if kind == PRIMITIVE:
            assert plan.check is not None
            expected = plan.check(item)
            if expected is not None:
                self.add("value", msg.bad_primitive(plan.code, expected), path)
                return
            limit = plan.max_length
            if limit and isinstance(item, str) and len(item) > limit:
                self.add("value", msg.too_long(limit), path)
        elif kind == COMPLEX:
            self.structure(item, plan.target, plan.code, path)
            if plan.is_reference and isinstance(item, dict):
                self.reference(plan.node, item, path)
        elif kind == RESOURCE:
            self.nested_resource(item, plan.type_ref, path)
            return
        else:
            if not isinstance(item, dict):
                self.add("structure", msg.not_object(plan.code), path)
                return
            self.extension(plan.node, plan.type_ref, item, path)
        if plan.checks_value:
            node = plan.node
            aliases = self.shared.aliases
            if node.fixed is not None and not equal(item, node.fixed[1], aliases):
                self.add("value", msg.fixed_mismatch("fixed"), path)
            elif node.pattern is not None and not contains(item, node.pattern[1], aliases):
                self.add("value", msg.fixed_mismatch("pattern"), path)
            if node.binding is not None and plan.code in CODED:
                self.binding(node.binding, plan.code, item, path)

    def nested_resource(self, item: Any, type_ref: TypeRef, path: str) -> None:
        profiles = tuple(self.profiles_of(item, self._one_of(item, type_ref.profiles), path))
        expected = type_ref.code if type_ref.code != "Resource" else None
        if (
            expected in (None, "DomainResource") or (profiles and expected == profiles[0].type)
        ) and self._replayed(item, profiles, path):
            return
        self.resource(item, path, profiles, expected)

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

    def sliced(self, plan: ItemPlan, items: list[Any], path: str) -> None:
        node, type_ref = plan.node, plan.type_ref
        slicing = node.slicing
        assert slicing is not None
        shared = self.shared
        registry = shared.registry
        aliases = shared.aliases
        slices = node.slices
        compiled = _slice_matchers(node, registry)
        table = slice_table(node, registry, aliases)
        conforms, fits, code_check = self.conforms, self.fits, self.code_check
        json_type = type_ref.code
        assigned: list[int] = []
        for item in items:
            candidates: Iterable[int] = (
                range(len(slices))
                if table is None
                else candidates_for(node, table, item, registry, aliases)
            )
            chosen = -1
            for position in candidates:
                if table is not None and len(compiled[position]) == 1:
                    # The table found it by its only discriminator: a fixed string.
                    chosen = position
                    break
                if matches(
                    item,
                    slices[position],
                    compiled[position],
                    json_type=json_type,
                    conforms=conforms,
                    fits=fits,
                    code_check=code_check,
                    aliases=aliases,
                ):
                    chosen = position
                    break
            assigned.append(chosen)
        counts: dict[int, int] = {}
        repeats = node.repeats
        for index, (item, chosen) in enumerate(zip(items, assigned, strict=True)):
            item_path = f"{path}[{index}]" if repeats else path
            if item is None:
                self.add("structure", msg.empty_value(), item_path)
                continue
            if chosen < 0:
                if slicing.rules == "closed":
                    self.add("structure", msg.no_slice_matched(node.name), item_path)
                    continue
                self.planned(plan, item, item_path)
                continue
            counts[chosen] = counts.get(chosen, 0) + 1
            typed = slice_plan(node, chosen, registry)
            if typed is not None:
                self.planned(typed, item, item_path)
            else:
                self.item(slices[chosen], type_ref, item, item_path)
        if slicing.ordered:
            matched = [c for c in assigned if c >= 0]
            if matched != sorted(matched):
                self.add("structure", msg.slice_order(node.name), path)
        if slicing.rules == "openAtEnd":
            seen_open = False
            for chosen in assigned:
                if chosen < 0:
                    seen_open = True
                elif seen_open:
                    self.add("structure", msg.slice_order(node.name), path)
                    break
        required: list[int] | None = node.cache.get("required_slices")
        if required is None:
            required = [i for i, n in enumerate(slices) if n.min > 0]
            node.cache["required_slices"] = required
        if not required and not counts:
            return
        for position in sorted(set(required) | set(counts)):
            slice_node = slices[position]
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
                    result = self._resource_conforms(item, profile)
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

    def _sub_walk(self) -> Walk:
        sub = Walk(self.shared, frames=list(self.frames), bundle_entries=self.bundle_entries)
        sub._conform_cache = self._conform_cache
        sub._replays = self._replays
        return sub

    def _sub_walk_ok(self, run: Any) -> bool:
        sub = self._sub_walk()
        run(sub)
        return not sub.has_errors()

    def _resource_conforms(self, item: dict[str, Any], profile: Profile) -> bool:
        """Walk a resource against one profile (slicing by profile). Its issues are kept, so
        that validating it against that same profile next (as the slice's content) replays
        them instead of walking it again."""
        sub = self._sub_walk()
        sub.resource(item, "x", (profile,), None)
        self._replays[(id(item), profile.url)] = Replay(
            item, profile, tuple(self.frames), len(self.bundle_entries), sub.issues
        )
        return not sub.has_errors()

    def _replayed(self, item: Any, profiles: tuple[Profile, ...], path: str) -> bool:
        """Add the issues of an earlier walk of `item` against `profiles` (see
        `_resource_conforms`) when it was made in the same state as now; False if none."""
        if len(profiles) != 1:
            return False
        record = self._replays.get((id(item), profiles[0].url))
        if (
            record is None
            or record.item is not item
            or record.profile is not profiles[0]
            or record.bundle_size != len(self.bundle_entries)
            or len(record.frames) != len(self.frames)
            or any(a is not b for a, b in zip(record.frames, self.frames, strict=True))
        ):
            return False
        for issue in record.issues.values():
            where = issue.expression[0]
            self.add(issue.code, issue.message, path + where[1:], issue.severity)
        return True

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
        url = value_set.split("|", 1)[0] if "|" in value_set else value_set
        for system, value in pairs:
            if check(url, system, value) != "invalid":
                return  # one valid code is enough; an unknown one is not reported
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
        prepared = rule.prepared
        if prepared is None:
            prepared = tuple(invariants.prepare(c) for c in rule.constraints)
            object.__setattr__(rule, "prepared", prepared)
            object.__setattr__(rule, "fallback", any(p.native is None for p in prepared))
        if rule.fallback:
            STATE.resolve = self._resolve
            STATE.conforms = self.conforms
        if frame is not None and frame is self._env_frame and self._env is not None:
            env = self._env  # the same resource as the previous call
        else:
            env = Env(resource, root, self._resolve, self.conforms, STATE.member_of)
            self._env_frame, self._env = frame, env
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


def _slice_matchers(node: Node, registry: Registry) -> list[tuple[Matcher, ...]]:
    """The compiled matchers of every slice of `node`, by position (cached on the node)."""
    found: list[tuple[Matcher, ...]] | None = node.cache.get("slice_matchers")
    if found is None:
        found = [matchers(node, slice_node, registry) for slice_node in node.slices]
        node.cache["slice_matchers"] = found
    return found
