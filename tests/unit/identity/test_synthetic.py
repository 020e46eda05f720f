"""The synthetic population: deterministic, realistic in shape, valid in its identifiers."""

from __future__ import annotations

import random
from collections import Counter

from tsunagu.identity.coverage import coverage_facts, coverage_issues
from tsunagu.identity.insurance import has_valid_check_digit, parse_member_id
from tsunagu.identity.matching import person_from_patient, score
from tsunagu.identity.synthetic import clinical, places
from tsunagu.identity.synthetic.population import (
    REFERENCE_DATE,
    Population,
    demographics,
    duplicate_patient,
    resources,
)

JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/"


def test_same_seed_same_people_other_seed_other_people() -> None:
    first = [resources(p, 3) for p in Population(3).people(60)]
    again = [resources(p, 3) for p in Population(3).people(60)]
    other = [resources(p, 4) for p in Population(4).people(60)]
    assert first == again
    assert first != other


def test_population_shape() -> None:
    people = list(Population(11).people(3000))
    ages = [p.age for p in people]
    assert min(ages) >= 0
    assert max(ages) <= 105
    elderly = sum(age >= 65 for age in ages) / len(ages)
    assert 0.2 < elderly < 0.4  # Japan: about 29 % are 65 or older
    surnames = Counter(p.family_kanji for p in people)
    top = {name for name, _ in surnames.most_common(6)}
    assert {"佐藤", "鈴木"} <= top
    assert Counter(p.sex for p in people)["female"] / len(people) > 0.4
    prefectures = Counter(p.municipality.prefecture.code for p in people)
    assert prefectures["13"] > prefectures["31"]  # Tokyo is larger than Tottori
    assert len(prefectures) >= 40


def test_places_cover_every_prefecture_with_postal_codes() -> None:
    municipalities = places.municipalities()
    assert {m.prefecture.code for m in municipalities} == {f"{i:02d}" for i in range(1, 48)}
    for m in municipalities:
        assert len(m.postal_code) == 8, m
        assert m.postal_code[3] == "-", m


def test_insurance_numbers_and_coverages_are_valid() -> None:
    population = Population(5)
    assert all(has_valid_check_digit(i.number) for i in population.insurers)
    kinds: Counter[str] = Counter()
    for person in population.people(800):
        patient, *rest = resources(person, 5, with_clinical=False)
        coverages = [r for r in rest if r["resourceType"] == "Coverage"]
        assert coverages, person.id
        for coverage in coverages:
            assert coverage_issues(coverage) == []
            facts = coverage_facts(coverage)
            assert facts.beneficiary == f"Patient/{person.id}"
            kinds[facts.member.insurer[:2] if len(facts.member.insurer) == 8 else "kokuho"] += 1
        active = [c for c in coverages if c["status"] == "active"]
        assert len(active) == 1
        member = next(
            i["value"] for i in patient["identifier"] if "JP_Insurance_memberID" in i["system"]
        )
        assert parse_member_id(member).format() == member
        if person.age >= 75:
            assert member.startswith("39")
    assert {"01", "06", "39", "kokuho"} <= set(kinds)


def test_households_share_a_card_with_their_own_branch_numbers() -> None:
    population = Population(9)
    found = False
    for number in range(200):
        household = population.household(number, 0)
        dependents = [
            p for p in household if p.coverages and p.coverages[-1].relationship != "self"
        ]
        if not dependents:
            continue
        head = household[0]
        card = head.coverages[-1]
        for dependent in dependents:
            theirs = dependent.coverages[-1]
            assert (theirs.insurer, theirs.symbol, theirs.number) == (
                card.insurer,
                card.symbol,
                card.number,
            )
            assert theirs.branch != card.branch
        found = True
    assert found


def test_resources_claim_jp_core_and_use_real_codes() -> None:
    seen: Counter[str] = Counter()
    for person in Population(2).people(300):
        for resource in resources(person, 2):
            kind = resource["resourceType"]
            seen[kind] += 1
            profile = resource["meta"]["profile"][0]
            assert profile.startswith(JP_CORE), profile
            if kind == "Condition":
                codes = {c["code"] for c in resource["code"]["coding"]}
                assert codes & {d.code for d in clinical.DISEASES}
            if kind == "MedicationRequest":
                yj = resource["medicationCodeableConcept"]["coding"][0]
                assert yj["system"] == clinical.YJ_SYSTEM
                assert len(yj["code"]) == 12
            if kind in ("Condition", "MedicationRequest", "Observation"):
                assert resource["subject"]["reference"] == f"Patient/{person.id}"
    assert {"Patient", "Coverage", "Condition", "MedicationRequest", "Observation"} <= set(seen)


def test_patient_round_trips_through_the_matcher() -> None:
    for person in Population(8).people(50):
        patient = resources(person, 8, with_clinical=False)[0]
        assert score(demographics(person), person_from_patient(patient)).grade == "certain"
        assert person.birthdate <= REFERENCE_DATE


def test_duplicates_are_the_same_person_written_differently() -> None:
    rng = random.Random(0)
    grades: Counter[str] = Counter()
    for person in Population(6).people(200):
        duplicate = duplicate_patient(rng, person, "1311234567")
        assert duplicate["id"] == f"{person.id}-d"
        grades[score(demographics(person), person_from_patient(duplicate)).grade] += 1
    assert grades["certain"] + grades["probable"] >= 180
