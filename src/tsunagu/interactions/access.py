"""Authorisation at the interaction layer: every route, read, search and write asks here.

`Context.principal is None` (--insecure-dev) means no access control: every helper is then a
no-op. Otherwise the caller's `Policy` and SQL `AccessFilter` are built once per request
(and once per transaction Bundle) and reused. Denials are 403 `forbidden`; a resource the
caller may not see answers 404, exactly like a missing one, so existence never leaks.
See docs/security.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tsunagu.fhir.outcomes import not_found
from tsunagu.identity.disaster import is_declaration
from tsunagu.interactions.context import Context
from tsunagu.interactions.operations.disaster import disaster_categories
from tsunagu.search import query as search_query
from tsunagu.search.query import AccessFilter, SearchQuery
from tsunagu.security.categories import Category
from tsunagu.security.consent import widens
from tsunagu.security.policy import Mode, Policy, ResourceAccess, forbidden
from tsunagu.security.principal import Principal, Role
from tsunagu.security.resource_categories import (
    classify,
    facility_of,
    type_classes,
    with_facility,
)
from tsunagu.storage.access import PATIENT, describe
from tsunagu.storage.repository import StoredResource

_CACHE = "_tsunagu_access"  # per-Context memo of the caller's Access
DISASTER_TTL = 1.0  # seconds a facility's disaster categories are reused
DECLARATION_TYPE = "Basic"  # the resource type disaster declarations are stored as
_DISASTERS: dict[str, tuple[float, frozenset[Category]]] = {}
_NO_PATIENT = "\x00"  # a patient id no resource has: confinement without a patient context
# Instance operations that read the instance without checking who asks (`$validate`
# mode=delete answers whether it exists). Other operations check access themselves.
_INSTANCE_READS = frozenset({"T/I/$validate"})
# Operations only platform operators may run.
_OPERATOR_ROLES = frozenset({Role.ADMINISTRATOR, Role.SYSTEM})


@dataclass
class Access:
    """The caller's policy, SQL filter and grant lookups, for one request.

    The disaster categories (a query) are looked up only when a decision needs them."""

    ctx: Context
    principal: Principal
    policy: Policy  # roles, scopes, ownership and grants; no disaster
    at: datetime
    _filter: AccessFilter | None = None
    _disaster: frozenset[Category] | None = None
    _grants: dict[tuple[str, str | None], bool] = field(default_factory=dict)

    @property
    def disaster(self) -> frozenset[Category]:
        """What a declared disaster opens to the caller's facility now."""
        if self._disaster is None:
            policy = self.policy
            found: frozenset[Category] = frozenset()
            if (
                policy.facility is not None
                and policy.role is not Role.PATIENT
                and Mode.CONSENTED in policy.read_modes().values()
            ):
                found = _disaster_categories(self.ctx, policy.facility, self.at)
            self._disaster = found
        return self._disaster

    @property
    def filter(self) -> AccessFilter:
        """The SQL access filter of every search of this request."""
        if self._filter is None:
            base = _static_filter(self.policy.principal, _types(self.ctx))
            self._filter = replace(_opened_filter(base, self.disaster), at=self.at)
        return self._filter

    def can_read(self, described: ResourceAccess) -> bool:
        if self.policy.can_read(described, self):
            return True
        if described.access_class.value not in {c.value for c in Category}:
            return False
        if Category(described.access_class.value) not in self.disaster:
            return False
        return Policy(self.policy.principal, self.disaster).can_read(described, self)

    # `security.policy.Grants`, memoised: one query per (patient, category) per request.
    def category(self, patient: str, category: Category) -> bool:
        return self._grant(patient, category.value)

    def any(self, patient: str) -> bool:
        return self._grant(patient, None)

    def _grant(self, patient: str, category: str | None) -> bool:
        key = (patient, category)
        found = self._grants.get(key)
        if found is None:
            facility = self.policy.facility
            found = facility is not None and self.ctx.repository.has_grant(
                facility=facility,
                subject=self.policy.principal.subject,
                patient=patient,
                category=category,
                at=self.at,
            )
            self._grants[key] = found
        return found


def current(ctx: Context) -> Access | None:
    """The caller's access rules, or None in --insecure-dev mode."""
    principal = ctx.principal
    if principal is None:
        return None
    cached: Access | None = ctx.__dict__.get(_CACHE)
    if cached is not None and cached.principal is principal:
        return cached
    access = Access(ctx, principal, _cached_policy(_key(principal)), datetime.now(UTC))
    ctx.__dict__[_CACHE] = access
    return access


def _disaster_categories(ctx: Context, facility: str, at: datetime) -> frozenset[Category]:
    """Disaster mode's answer, reused for DISASTER_TTL seconds per facility (a lookup costs
    a search). Every write of a `Basic` (where declarations live) through `write` clears it
    in this process; other worker processes see a change within DISASTER_TTL."""
    now = time.monotonic()
    cached = _DISASTERS.get(facility)
    if cached is not None and now - cached[0] < DISASTER_TTL:
        return cached[1]
    found = frozenset(disaster_categories(ctx, facility, at))
    _DISASTERS[facility] = (now, found)
    return found


def _declarations_changed(resource_type: str) -> None:
    if resource_type == DECLARATION_TYPE:
        _DISASTERS.clear()


def _key(principal: Principal) -> Principal:
    """The principal without what does not change decisions (token id, client)."""
    return Principal(
        principal.subject,
        principal.role,
        "",
        principal.facility,
        principal.patient,
        principal.scopes,
    )


@lru_cache(maxsize=4096)
def _cached_policy(key: Principal) -> Policy:
    return Policy(key)


def _types(ctx: Context) -> tuple[str, ...]:
    definitions = ctx.definitions
    cached = _TYPES.get(id(definitions))
    if cached is None or cached[0] is not definitions:
        cached = _TYPES[id(definitions)] = (definitions, tuple(sorted(definitions.resource_types)))
    return cached[1]


_TYPES: dict[int, tuple[Any, tuple[str, ...]]] = {}  # per Definitions: its types, sorted


@lru_cache(maxsize=4096)
def _opened_filter(base: AccessFilter, disaster: frozenset[Category]) -> AccessFilter:
    """The filter with the categories a disaster opens moved from consented to open."""
    opened = {c.value for c in disaster} & set(base.consented)
    if not opened:
        return base
    return replace(
        base,
        open=tuple(sorted({*base.open, *opened})),
        consented=tuple(c for c in base.consented if c not in opened),
    )


@lru_cache(maxsize=4096)
def _static_filter(key: Principal, all_types: tuple[str, ...]) -> AccessFilter:
    """The caller's filter without time and disaster (both change per request)."""
    policy = _cached_policy(key)
    modes = policy.read_modes()

    def having(mode: Mode) -> tuple[str, ...]:
        return tuple(sorted(c.value for c, m in modes.items() if m is mode))

    if policy.role is Role.PATIENT:
        confined: tuple[str, ...] = ("*",)
    else:
        confined = tuple(t for t in all_types if policy.confined(t, "r"))
    scoped = policy.scopes.scopes
    any_type = any(s.resource_type == "*" and "r" in s.letters for s in scoped)
    return AccessFilter(
        at=datetime.min.replace(tzinfo=UTC),
        facility=policy.facility,
        subject=policy.principal.subject,
        open=having(Mode.OPEN),
        owned=having(Mode.OWNED),
        consented=having(Mode.CONSENTED),
        related=having(Mode.RELATED),
        patient=(policy.patient or _NO_PATIENT) if confined else None,
        confined=confined,
        types=None if any_type else policy.readable_types(all_types),
    )


# --- route level ------------------------------------------------------------------------

# (method, path shape) -> the letter the interaction needs on the path's resource type.
_LETTERS: dict[tuple[str, str], str] = {
    ("GET", "T"): "s",
    ("POST", "T/_search"): "s",
    ("POST", "T"): "c",
    ("PUT", "T"): "u",
    ("PATCH", "T"): "u",
    ("DELETE", "T"): "d",
    ("GET", "T/_history"): "r",
    ("GET", "T/I"): "r",
    ("PUT", "T/I"): "u",
    ("PATCH", "T/I"): "u",
    ("DELETE", "T/I"): "d",
    ("GET", "T/I/_history"): "r",
    ("GET", "T/I/_history/V"): "r",
    ("GET", "T/I/$everything"): "r",
    ("POST", "T/I/$everything"): "r",
    ("POST", "T/I/$validate"): "r",
    ("POST", "T/$match"): "s",
}


def authorize(ctx: Context, method: str, shape: str, args: list[str], query: Any) -> None:
    """Refuse (403) an interaction the caller's scopes or role never allow on its type.

    What is then visible or writable is decided per resource by the handlers."""
    access = current(ctx)
    if access is None:
        return
    policy = access.policy
    if shape == "$reindex" and policy.role not in _OPERATOR_ROLES:
        raise forbidden("$reindex は管理者のみ実行できます", "only administrators may run $reindex")
    if shape in ("", "_search") and method in ("GET", "POST"):
        for resource_type in _named_types(query):
            check_type(ctx, resource_type, "s")
        return
    if shape == "T/I/C" and method == "GET":
        check_type(ctx, args[2], "s")
        return
    letter = _LETTERS.get((method, shape))
    if letter is not None:
        check_type(ctx, args[0], letter)
    if shape in _INSTANCE_READS:
        # The operation reads the instance: the caller must be able to see it.
        stored = (ctx.session or ctx.repository).read(args[0], args[1])
        if stored is not None and not stored.deleted:
            require_visible(ctx, stored, f"{args[0]}/{args[1]}")


def _named_types(query: Any) -> list[str]:
    types: list[str] = []
    for key, value in query:
        if key == "_type":
            types += [t for t in str(value).split(",") if t]
    return types


def check_type(ctx: Context, resource_type: str, letter: str) -> None:
    access = current(ctx)
    if access is None:
        return
    in_compartment = resource_type == PATIENT or bool(
        ctx.definitions.compartment_params(PATIENT, resource_type)
    )
    _check_type(access.policy.principal, resource_type, letter, in_compartment)


@lru_cache(maxsize=16384)
def _check_type(key: Principal, resource_type: str, letter: str, in_compartment: bool) -> bool:
    """`Policy.check_type`, remembered when it allows (a refusal raises, and is not kept)."""
    classes = type_classes(resource_type, in_compartment)
    _cached_policy(key).check_type(resource_type, letter, classes)
    return True


# --- reads ------------------------------------------------------------------------------


def filter_query(ctx: Context, query: SearchQuery) -> SearchQuery:
    """The query, restricted to what the caller may see (inside its SQL)."""
    access = current(ctx)
    if access is None:
        return query
    return replace(query, access=access.filter)


def access_filter(ctx: Context) -> AccessFilter | None:
    access = current(ctx)
    return None if access is None else access.filter


def visible(ctx: Context, stored: StoredResource, *, current_version: bool = False) -> bool:
    """Whether the caller may see this version (a tombstone: the version it deleted).

    For the current version of a resource (`current_version`), the search filter answers, in
    one SQL query on its `resource_access` row; older versions are described from their
    content and judged by the same rules in Python (`Policy.can_read`)."""
    access = current(ctx)
    if access is None:
        return True
    content = stored.content
    if content is None:
        if stored.version <= 1:
            return False
        previous = ctx.repository.vread(stored.resource_type, stored.id, stored.version - 1)
        if previous is None or previous.content is None:
            return False
        content = previous.content
    elif current_version:
        quick = _visible_at_once(ctx, access, stored.resource_type, content)
        return quick if quick is not None else _visible_now(ctx, access, stored)
    return access.can_read(describe(content, ctx.registry))


def _visible_at_once(
    ctx: Context, access: Access, resource_type: str, content: dict[str, Any]
) -> bool | None:
    """The answer when the content alone decides (no patient confinement, and the class is
    open, unreadable, or the caller's facility owns it); None when grants must be asked."""
    policy = access.policy
    if not policy.scopes.allows(resource_type, "r"):
        return False
    if policy.confined(resource_type, "r"):
        return None
    in_compartment = resource_type == PATIENT or bool(
        ctx.definitions.compartment_params(PATIENT, resource_type)
    )
    mode = policy.read_modes().get(classify(content, in_compartment))
    if mode is None:
        return False
    if mode is Mode.OPEN or (policy.facility and facility_of(content) == policy.facility):
        return True
    return None


def _visible_now(ctx: Context, access: Access, stored: StoredResource) -> bool:
    if ctx.session is not None:  # a search in the transaction sees its own writes
        query = search_query.parse(ctx.registry, [stored.resource_type], [("_id", stored.id)])
        return bool(ctx.session.search(replace(query, count=1, access=access.filter)))
    return ctx.repository.is_visible(stored.resource_type, stored.id, access.filter)


def require_visible(ctx: Context, stored: StoredResource | None, what: str) -> StoredResource:
    """The current version of a resource, or 404 when it is missing or hidden from the caller
    (the same answer, so existence never leaks)."""
    if stored is None or not visible(ctx, stored, current_version=True):
        raise not_found(f"{what} は存在しません / resource {what} is not known")
    return stored


# --- writes -----------------------------------------------------------------------------


def before_save(
    ctx: Context,
    letter: str,
    resource_type: str,
    body: dict[str, Any],
    current_version: StoredResource | None,
) -> dict[str, Any]:
    """Check a create (c) or update (u) and return the body to store, with the owner
    facility tag set by the server (a client cannot forge it).

    Updating a resource the caller cannot see answers 404; one it can see but its facility
    did not write, 403. Updating a deleted or missing resource is a create."""
    _declarations_changed(resource_type)
    access = current(ctx)
    if access is None:
        return body
    policy = access.policy
    live = current_version if current_version and not current_version.deleted else None
    existing = None
    if live is None:
        letter = "c"
    else:
        existing = _describe_visible(ctx, live)
    owner = policy.facility or (existing.facility if existing else None)
    stamped = with_facility(body, owner) if owner else _without_owner(body)
    policy.check_write(letter, describe(stamped, ctx.registry), current=existing)
    previous_content = live.content if live is not None else None
    if resource_type == "Basic":
        _require_declarer(policy, stamped, previous_content)
    if resource_type == "Consent" and policy.role is not Role.PATIENT:
        previous = live.content if live is not None else None
        if widens(stamped, previous):
            raise forbidden(
                "同意を与える・広げることができるのは患者本人だけです",
                "only the patient may give or widen a consent (a facility may propose it,"
                " or record its narrowing or withdrawal)",
            )
    return stamped


def before_delete(ctx: Context, resource_type: str, current_version: StoredResource) -> None:
    """Check a delete: 404 when the caller cannot see the resource, 403 when it may not
    delete it (another facility's, or a class its role does not delete)."""
    _declarations_changed(resource_type)
    access = current(ctx)
    if access is None:
        return
    if current_version.deleted:
        require_visible(ctx, current_version, f"{resource_type}/{current_version.id}")
        return
    existing = _describe_visible(ctx, current_version)
    access.policy.check_write("d", existing, current=existing)
    if resource_type == "Basic":
        _require_declarer(access.policy, None, current_version.content)


def _require_declarer(
    policy: Policy, body: dict[str, Any] | None, previous: dict[str, Any] | None
) -> None:
    """Disaster declarations open patients' data to whole areas: only administrators may
    write them, whether through `$declare-disaster` or a plain write of the `Basic`."""
    touched = any(r is not None and is_declaration(r) for r in (body, previous))
    if touched and policy.role is not Role.ADMINISTRATOR:
        raise forbidden(
            "災害時モードの宣言を書けるのは管理者だけです",
            "only an administrator may write a disaster declaration",
        )


def _describe_visible(ctx: Context, stored: StoredResource) -> ResourceAccess:
    require_visible(ctx, stored, f"{stored.resource_type}/{stored.id}")
    assert stored.content is not None
    return describe(stored.content, ctx.registry)


def _without_owner(body: dict[str, Any]) -> dict[str, Any]:
    stamped = with_facility(body, "-")
    stamped["meta"]["tag"] = stamped["meta"]["tag"][:-1]
    if not stamped["meta"]["tag"]:
        del stamped["meta"]["tag"]
    return stamped
