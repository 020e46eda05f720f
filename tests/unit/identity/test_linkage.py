"""Record linkage: blocking keys, pair scoring and clustering (pure)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from tsunagu.identity import linkage
from tsunagu.identity.matching import Person
from tsunagu.identity.synthetic.population import Population, demographics
from tsunagu.identity.synthetic.variants import DUPLICATE_KINDS, vary

HANAKO = Person(
    family_kanji="佐藤",
    given_kanji="花子",
    family_kana="サトウ",
    given_kana="ハナコ",
    birthdate=date(1972, 11, 3),
    sex="female",
    postal_code="530-0001",
)


def test_each_kind_of_error_keeps_a_shared_key() -> None:
    keys = linkage.blocking_keys(HANAKO)
    for changed in (
        replace(HANAKO, family_kana="サトー", family_kanji="佐籐"),  # family name wrong
        replace(HANAKO, given_kana="ハナユ", given_kanji="華子"),  # given name wrong
        replace(HANAKO, birthdate=date(1972, 3, 11)),  # birthdate wrong
        replace(HANAKO, family_kana="ヤマダ", family_kanji="山田"),  # married
    ):
        assert keys & linkage.blocking_keys(changed), changed


def test_candidate_pairs_skip_huge_blocks() -> None:
    small = [["a", "b", "c"]]
    assert linkage.candidate_pairs(small) == {("a", "b"), ("a", "c"), ("b", "c")}
    huge = [[str(i) for i in range(linkage.MAX_BLOCK + 1)]]
    assert linkage.candidate_pairs(huge) == set()


def test_clusters_and_links_from_scored_pairs() -> None:
    people = {
        "p1": HANAKO,
        "p2": replace(HANAKO, given_kana="ハナゴ"),
        "p3": replace(HANAKO, family_kana="サトー"),
        "p4": replace(HANAKO, given_kana="タロウ", given_kanji="太郎", sex="male"),
    }
    pairs = linkage.candidate_pairs([list(people)])
    scored = linkage.score_pairs(people, pairs)
    linked = {(p.left, p.right) for p in scored}
    assert ("p1", "p2") in linked
    assert ("p1", "p3") in linked
    assert not any("p4" in pair for pair in linked)
    assert linkage.clusters(scored) == [["p1", "p2", "p3"]]
    assert linkage.links(scored)["p1"] == {"p2", "p3"}


def test_synthetic_duplicates_are_found_and_households_are_not() -> None:
    population = Population(seed=7)
    people = {p.id: demographics(p) for p in population.people(400)}
    rng = random.Random(1)
    truth = set()
    for pid in list(people)[:80]:
        people[f"{pid}-d"] = vary(rng, people[pid], [rng.choice(DUPLICATE_KINDS)])
        truth.add((pid, f"{pid}-d"))
    blocks: dict[str, list[str]] = {}
    for pid, person in people.items():
        for key in linkage.blocking_keys(person):
            blocks.setdefault(key, []).append(pid)
    scored = linkage.score_pairs(people, linkage.candidate_pairs(blocks.values()))
    found = {(p.left, p.right) for p in scored}
    true_found = found & truth
    assert len(true_found) >= 0.9 * len(truth)
    assert len(found - truth) <= 1  # household members share name, address: never linked
