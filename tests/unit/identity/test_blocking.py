"""Blocking keys: a namesake is found by key exactly when two of year, month and day agree,
and a namesake the keys leave out could never have been returned."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity import blocking, dates
from tsunagu.identity.matching import Person, score
from tsunagu.identity.synthetic.population import Population, demographics, patient_resource
from tsunagu.identity.synthetic.variants import long_vowel, width_and_script

TAKAHASHI = Person(
    family_kanji="髙橋",
    given_kanji="優子",
    family_kana="タカハシ",
    given_kana="ユウコ",
    birthdate=date(1990, 7, 21),
    sex="female",
)
STORED = {
    "resourceType": "Patient",
    "name": [
        {"family": "高橋", "given": ["優子"]},
        {"family": "タカハシ", "given": ["ユーコ"]},
    ],
    "birthDate": "1990-07-21",
}
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31))
PEOPLE = list(Population(5).people(200))


def test_record_keys_name_and_birthdate_parts() -> None:
    assert blocking.record_keys(STORED) == [
        "kana:タカハシユコ:md:0721",
        "kana:タカハシユコ:y:1990",
        "kanji:高橋優子:md:0721",
        "kanji:高橋優子:y:1990",
        "kana-family:タカハシ:d:19900721",
        "kana-given:ユコ:d:19900721",
        "kanji-family:高橋:d:19900721",
        "kanji-given:優子:d:19900721",
    ]


def test_no_keys_without_a_birthdate_or_a_name() -> None:
    assert blocking.record_keys({**STORED, "birthDate": "1990"}) == []
    assert blocking.record_keys({"resourceType": "Patient", "birthDate": "1990-07-21"}) == []
    assert blocking.query_keys(replace(TAKAHASHI, birthdate=None)) == []


def test_query_keys_only_for_scripts_with_a_full_name() -> None:
    family_only = replace(TAKAHASHI, given_kanji="")
    keys = blocking.query_keys(family_only)
    assert keys
    assert all(key.startswith("kana:") for key in keys)
    assert blocking.has_full_name(family_only) == (True, False)


def test_spellings_share_one_key() -> None:
    written = replace(TAKAHASHI, family_kana="ﾀｶﾊｼ", given_kana="ゆーこ", family_kanji="高橋")
    keys = blocking.query_keys(written)
    assert len(keys) == 4
    assert set(keys) <= set(blocking.record_keys(STORED))


def test_reserved_token_characters_never_reach_a_key() -> None:
    odd = replace(TAKAHASHI, family_kanji="高|橋,", given_kanji="$優\\子")
    assert all(not set("|,$\\") & set(key) for key in blocking.query_keys(odd))
    assert blocking.query_keys(odd) == blocking.query_keys(TAKAHASHI)


@given(stored=births, asked=births)
def test_found_by_key_exactly_when_year_or_month_day_agree(stored: date, asked: date) -> None:
    record = blocking.record_keys({**STORED, "birthDate": stored.isoformat()})
    found = set(blocking.query_keys(replace(TAKAHASHI, birthdate=asked))) & set(record)
    same_day = (stored.month, stored.day) == (asked.month, asked.day)
    assert bool(found) == (stored.year == asked.year or same_day)


@given(
    index=st.integers(0, 199),
    asked=births,
    sex=st.sampled_from(["", "male", "female"]),
    same_place=st.booleans(),
    same_phone=st.booleans(),
)
def test_namesakes_left_out_are_never_returned(
    index: int, asked: date, sex: str, same_place: bool, same_phone: bool
) -> None:
    """The module's argument, checked against the scoring itself: a namesake whose birthdate
    the keys do not reach (and is not a typing slip of the query's) is `certainly-not`."""
    person = demographics(PEOPLE[index])
    assert person.birthdate is not None
    query = replace(
        person,
        birthdate=asked,
        sex=sex or person.sex,
        postal_code=person.postal_code if same_place else "",
        address=person.address if same_place else "",
        phone=person.phone if same_phone else "",
        identifiers=(),
    )
    keyed = set(blocking.query_keys(query)) & set(
        blocking.record_keys(patient_resource(PEOPLE[index]))
    )
    by_date = asked == person.birthdate or person.birthdate in dates.date_variants(asked)
    if not keyed and not by_date:
        assert score(query, person).grade == "certainly-not"


@given(index=st.integers(0, 199), rng=st.randoms(use_true_random=False))
def test_a_written_variant_keeps_its_keys(index: int, rng: random.Random) -> None:
    stored = PEOPLE[index]
    query = width_and_script(rng, long_vowel(rng, demographics(stored)))
    assert set(blocking.query_keys(query)) & set(blocking.record_keys(patient_resource(stored)))


def test_slip_keys_pair_each_name_part_with_each_day() -> None:
    days = [date(1990, 7, 12), date(1990, 12, 7)]
    keys = blocking.slip_keys(replace(TAKAHASHI, given_kanji=""), days)
    assert keys == [
        "kana-family:タカハシ:d:19900712",
        "kana-given:ユコ:d:19900712",
        "kanji-family:高橋:d:19900712",
        "kana-family:タカハシ:d:19901207",
        "kana-given:ユコ:d:19901207",
        "kanji-family:高橋:d:19901207",
    ]


@given(
    index=st.integers(0, 199),
    slip=st.integers(0, 9),
    sex=st.sampled_from(["", "male", "female"]),
    same_place=st.booleans(),
    same_phone=st.booleans(),
    other=st.integers(0, 199),
)
def test_a_slipped_birthdate_without_a_shared_name_part_is_never_returned(
    index: int, slip: int, sex: str, same_place: bool, same_phone: bool, other: int
) -> None:
    """Someone born on a slip of the query's birthdate who shares no part of the name is
    `certainly-not`, unless both parts are one typo away (the documented gap)."""
    person, stranger = demographics(PEOPLE[index]), demographics(PEOPLE[other])
    assert person.birthdate is not None
    slips = dates.date_variants(person.birthdate)
    if not slips:
        return
    query = replace(
        stranger,
        birthdate=slips[slip % len(slips)],
        sex=sex or stranger.sex,
        postal_code=person.postal_code if same_place else stranger.postal_code,
        address=person.address if same_place else stranger.address,
        phone=person.phone if same_phone else "",
        identifiers=(),
    )
    record = set(blocking.record_keys(patient_resource(PEOPLE[index])))
    assert query.birthdate is not None
    if set(blocking.slip_keys(query, dates.date_variants(query.birthdate))) & record:
        return
    result = score(query, person)
    if result.evidence["family"] == "typo" and result.evidence["given"] == "typo":
        return
    assert result.grade == "certainly-not", result


@given(index=st.integers(0, 199), slip=st.integers(0, 9))
def test_the_same_person_with_a_slipped_birthdate_shares_slip_keys(index: int, slip: int) -> None:
    person = demographics(PEOPLE[index])
    assert person.birthdate is not None
    slips = dates.date_variants(person.birthdate)
    if not slips:
        return
    query = replace(person, birthdate=slips[slip % len(slips)])
    assert query.birthdate is not None
    found = set(blocking.slip_keys(query, dates.date_variants(query.birthdate)))
    assert found & set(blocking.record_keys(patient_resource(PEOPLE[index])))
