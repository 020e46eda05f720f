"""Scoring a candidate against a query: levels, weights, grades."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.matching import (
    Person,
    normalize_address,
    person_from_patient,
    score,
)

TAKAHASHI = Person(
    family_kanji="高橋",
    given_kanji="優子",
    family_kana="タカハシ",
    given_kana="ユウコ",
    birthdate=date(1990, 7, 21),
    sex="female",
    postal_code="100-0005",
    address="東京都千代田区丸の内1-2-3",
)


def test_same_person_written_differently_is_certain() -> None:
    written = Person(
        family_kanji="髙橋\u3000",
        given_kanji="優子",
        family_kana="ﾀｶﾊｼ",
        given_kana="ゆーこ",
        birthdate=date(1990, 7, 21),
        sex="female",
        postal_code="1000005",
        address="千代田区丸の内一丁目2番3号",
    )
    result = score(TAKAHASHI, written)
    assert result.grade == "certain"
    assert result.evidence["address"] == "same"
    assert result.score > 0.99


KANA_ONLY = replace(TAKAHASHI, family_kanji="", given_kanji="")


@pytest.mark.parametrize(
    ("query", "change", "grade"),
    [
        (KANA_ONLY, {"given_kana": "ユウゴ"}, "probable"),  # voicing slip in the reading
        (KANA_ONLY, {"given_kana": "ユウカ"}, "probable"),  # one kana wrong
        (TAKAHASHI, {"given_kana": "ユウゴ"}, "certain"),  # ...while the kanji agree
        (TAKAHASHI, {"given_kanji": "裕子"}, "probable"),  # conversion slip, same reading
        (TAKAHASHI, {"birthdate": date(1990, 7, 12)}, "probable"),  # transposed digits
        (TAKAHASHI, {"birthdate": date(1990, 1, 21)}, "possible"),  # a different month
    ],
)
def test_small_errors_rank_lower_but_still_match(
    query: Person, change: dict[str, object], grade: str
) -> None:
    exact = score(query, TAKAHASHI)
    result = score(query, replace(TAKAHASHI, **change))  # type: ignore[arg-type]
    assert result.grade == grade
    assert result.score <= exact.score


def test_family_members_are_not_matches() -> None:
    brother = replace(
        TAKAHASHI, given_kanji="健太", given_kana="ケンタ", birthdate=date(1993, 2, 1), sex="male"
    )
    twin = replace(TAKAHASHI, given_kanji="由美", given_kana="ユミ")
    assert score(TAKAHASHI, brother).grade == "certainly-not"
    assert score(TAKAHASHI, twin).grade in ("possible", "certainly-not")


def test_name_alone_is_at_most_possible() -> None:
    query = Person(family_kana="タカハシ", given_kana="ユウコ", sex="female")
    assert score(query, TAKAHASHI).grade == "possible"


def test_whole_name_without_split() -> None:
    query = Person(family_kanji="髙橋優子", birthdate=date(1990, 7, 21))
    result = score(query, TAKAHASHI)
    assert result.evidence["family"] == "exact"
    assert result.grade in ("certain", "probable")


def test_identifier_agreement_counts() -> None:
    member = ("http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID|01130012:1:2:00",)
    query = Person(family_kana="タカハシ", identifiers=member)
    with_id = score(query, replace(TAKAHASHI, identifiers=member))
    without = score(query, TAKAHASHI)
    assert with_id.score > without.score
    assert with_id.evidence["identifier"] == "same"


PEOPLE = st.builds(
    Person,
    family_kanji=st.sampled_from(["", "山田", "髙橋", "佐藤"]),
    given_kanji=st.sampled_from(["", "太郎", "優子"]),
    family_kana=st.sampled_from(["", "ヤマダ", "タカハシ", "サトウ"]),
    given_kana=st.sampled_from(["", "タロウ", "ユーコ", "ユウコ"]),
    birthdate=st.one_of(st.none(), st.dates(date(1930, 1, 1), date(2020, 1, 1))),
    sex=st.sampled_from(["", "male", "female", "unknown"]),
    postal_code=st.sampled_from(["", "100-0005", "5300001"]),
)


@given(PEOPLE, PEOPLE)
def test_score_is_symmetric_and_bounded(a: Person, b: Person) -> None:
    ab, ba = score(a, b), score(b, a)
    assert ab.score == ba.score
    assert ab.grade == ba.grade
    assert 0.0 <= ab.score <= 1.0


@given(PEOPLE)
def test_a_person_matches_themself_best(a: Person) -> None:
    other = replace(a, given_kana="ケンジ", given_kanji="健二", birthdate=date(1901, 1, 1))
    assert score(a, a).score >= score(a, other).score


def test_address_normalisation() -> None:
    assert normalize_address("東京都千代田区丸の内一丁目2番3号") == "千代田区丸の内1-2-3"
    assert normalize_address("千代田区丸の内１－２－３") == "千代田区丸の内1-2-3"
    assert normalize_address("大阪府大阪市北区梅田二十三番地") == "大阪市北区梅田23"


def test_person_from_jp_core_patient() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                        "valueCode": "IDE",
                    }
                ],
                "family": "山田",
                "given": ["太郎"],
            },
            {"text": "ヤマダ タロウ"},
        ],
        "gender": "male",
        "birthDate": "1958-04-12",
        "address": [{"postalCode": "100-0005", "state": "東京都", "city": "千代田区"}],
        "telecom": [{"system": "phone", "value": "03-1234-5678"}],
        "identifier": [{"system": "urn:x", "value": "1"}],
    }
    person = person_from_patient(patient)
    assert (person.family_kanji, person.given_kanji) == ("山田", "太郎")
    assert (person.family_kana, person.given_kana) == ("ヤマダ", "タロウ")
    assert person.birthdate == date(1958, 4, 12)
    assert person.address == "東京都千代田区"
    assert person.identifiers == ("urn:x|1",)
