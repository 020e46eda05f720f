"""Record linkage: find records of the same person among many, without merging anything.

1. Blocking: each record gets a few keys (`blocking_keys`); only records that share a key are
   compared, so the work grows with the block sizes, not with the square of the records.
2. Scoring: each candidate pair is scored with `matching.score` (symmetric).
3. Clustering: pairs at or above the link grade join clusters (union–find); each record is then
   linked (`Patient.link`, type `seealso`) to the others of its cluster that it was paired with.

Pure: the caller reads the records and writes the links.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from tsunagu.identity.matching import PROBABLE, MatchResult, Person, score
from tsunagu.identity.names import phonetic_key

LINK_THRESHOLD: Final = PROBABLE
MAX_BLOCK: Final = 500  # keys shared by more records than this say too little to compare


def blocking_keys(person: Person) -> set[str]:
    """Keys under which a record is compared with others. Each key tolerates a different
    error: a wrong family name (birthdate + given), a wrong given name (birthdate + family),
    a wrong birthdate (full reading + postal code, full reading + birth year)."""
    keys: set[str] = set()
    family = phonetic_key(person.family_kana) if person.family_kana else ""
    given = phonetic_key(person.given_kana) if person.given_kana else ""
    family = family or person.family_kanji
    given = given or person.given_kanji
    born = person.birthdate.isoformat() if person.birthdate else ""
    postal = "".join(ch for ch in person.postal_code if ch.isdigit())
    if born and given:
        keys.add(f"bg|{born}|{given}")
    if born and family:
        keys.add(f"bf|{born}|{family}")
    if family and given and len(postal) == 7:
        keys.add(f"np|{family}{given}|{postal}")
    if family and given and person.birthdate:
        keys.add(f"ny|{family}{given}|{person.birthdate.year}")
    return keys


@dataclass(frozen=True)
class ScoredPair:
    left: str
    right: str
    result: MatchResult


def candidate_pairs(blocks: Iterable[Iterable[str]]) -> set[tuple[str, str]]:
    """Every unordered pair of ids within each block (blocks larger than MAX_BLOCK skipped)."""
    pairs: set[tuple[str, str]] = set()
    for block in blocks:
        members = sorted(set(block))
        if len(members) > MAX_BLOCK:
            continue
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                pairs.add((left, right))
    return pairs


def score_pairs(people: dict[str, Person], pairs: Iterable[tuple[str, str]]) -> list[ScoredPair]:
    """Scores of the pairs whose grade reaches LINK_THRESHOLD, best first."""
    kept = []
    for left, right in pairs:
        result = score(people[left], people[right])
        if result.score >= LINK_THRESHOLD:
            kept.append(ScoredPair(left, right, result))
    kept.sort(key=lambda p: (-p.result.score, p.left, p.right))
    return kept


def clusters(pairs: Iterable[ScoredPair]) -> list[list[str]]:
    """Connected groups of linked records (union–find), each sorted, larger groups first."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for pair in pairs:
        a, b = find(pair.left), find(pair.right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for item in parent:
        groups.setdefault(find(item), []).append(item)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def links(pairs: Iterable[ScoredPair]) -> dict[str, set[str]]:
    """For each record, the records it is to be linked with (both directions)."""
    out: dict[str, set[str]] = {}
    for pair in pairs:
        out.setdefault(pair.left, set()).add(pair.right)
        out.setdefault(pair.right, set()).add(pair.left)
    return out


__all__ = [
    "LINK_THRESHOLD",
    "MAX_BLOCK",
    "ScoredPair",
    "blocking_keys",
    "candidate_pairs",
    "clusters",
    "links",
    "score_pairs",
]
