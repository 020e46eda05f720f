"""Patient matching: how likely a candidate record is the person a query describes.

Each field is compared to an agreement level; each level carries a weight (a log-likelihood
ratio in the spirit of Fellegi–Sunter: positive when agreement is more likely for the same
person than for two different people, negative for disagreement). The weights sum to a total
that a logistic curve turns into a score in [0, 1], and the score and the evidence give the
IHE PDQm match grade:

- `certain`: score ≥ 0.99, the same birthdate, the given name the same (after normalisation)
  and the family name the same or differing in voicing only; automatic use is reasonable.
- `probable`: score ≥ 0.80.
- `possible`: score ≥ 0.30; show to a person, never act on it alone.
- `certainly-not`: below that; not returned.

Names compare on their normalised forms (`identity.names`): kanji with variants folded, kana
with width, script, small kana and long vowels folded; a one-letter slip in the reading is a
typo and weighs less than agreement. Birthdates compare exactly, then as typing slips
(`identity.dates.relation`). Fields missing on either side weigh nothing.
See: https://profiles.ihe.net/ITI/PDQm/ITI-119.html
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Final, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from tsunagu.identity import dates
from tsunagu.identity.names import (
    fold_variants,
    is_kana,
    kana_form,
    kana_key,
    kanji_key,
    phonetic_key,
    split_name,
)

Grade = Literal["certain", "probable", "possible", "certainly-not"]
Level = Literal["exact", "phonetic", "typo", "different", "missing"]

GRADE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/match-grade"
GRADE_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/match-grade"
CERTAIN: Final = 0.99
PROBABLE: Final = 0.80
POSSIBLE: Final = 0.30

# Weights per agreement level (log-odds units). Given names discriminate more than family
# names (family members share the family name, address and postal code).
FAMILY_WEIGHTS: Final[dict[Level, float]] = {
    "exact": 3.0,
    "phonetic": 2.5,
    "typo": 1.5,
    "different": -2.5,  # family names change at marriage: a weaker penalty
    "missing": 0.0,
}
GIVEN_WEIGHTS: Final[dict[Level, float]] = {
    "exact": 4.0,
    "phonetic": 3.0,
    "typo": 2.0,
    "different": -6.0,
    "missing": 0.0,
}
BIRTHDATE_WEIGHTS: Final[dict[str, float]] = {
    "same": 5.0,
    "transposed": 2.0,
    "year": 1.5,
    "partial": -1.5,
    "different": -7.0,
    "missing": 0.0,
}
SEX_AGREE, SEX_DISAGREE = 0.5, -4.0
POSTAL_AGREE, POSTAL_DISAGREE = 1.5, -0.5
ADDRESS_AGREE, ADDRESS_DISAGREE = 1.5, -0.5
PHONE_AGREE = 2.0
IDENTIFIER_AGREE = 5.0  # the same business identifier (e.g. 被保険者個人識別子)
OFFSET: Final = 8.0  # the total at which the score is 0.5


@dataclass(frozen=True)
class Person:
    """The demographics a query gives or a record holds; empty strings are unknown.

    When a name was given as one string, it is the family name and the given name is empty.
    """

    family_kanji: str = ""
    given_kanji: str = ""
    family_kana: str = ""
    given_kana: str = ""
    birthdate: date | None = None
    sex: str = ""  # FHIR administrative gender; "unknown"/"other" count as missing
    postal_code: str = ""
    address: str = ""
    phone: str = ""
    identifiers: tuple[str, ...] = ()  # "system|value"


@dataclass(frozen=True)
class MatchResult:
    score: float
    grade: Grade
    evidence: dict[str, str] = field(default_factory=dict)


def score(query: Person, candidate: Person) -> MatchResult:
    """Compare a candidate with a query (the comparison is symmetric)."""
    evidence: dict[str, str] = {}
    total = 0.0
    family, given = _name_levels(query, candidate)
    evidence["family"], evidence["given"] = family, given
    total += FAMILY_WEIGHTS[family] + GIVEN_WEIGHTS[given]
    birth = "missing"
    if query.birthdate is not None and candidate.birthdate is not None:
        birth = dates.relation(query.birthdate, candidate.birthdate)
    evidence["birthdate"] = birth
    total += BIRTHDATE_WEIGHTS[birth]
    total += _sex(query.sex, candidate.sex, evidence)
    total += _postal(query.postal_code, candidate.postal_code, evidence)
    total += _address(query.address, candidate.address, evidence)
    if query.phone and candidate.phone and _digits(query.phone) == _digits(candidate.phone):
        evidence["phone"] = "same"
        total += PHONE_AGREE
    if query.identifiers and set(query.identifiers) & set(candidate.identifiers):
        evidence["identifier"] = "same"
        total += IDENTIFIER_AGREE
    value = 1.0 / (1.0 + math.exp(-(total - OFFSET)))
    return MatchResult(round(value, 4), _grade(value, family, given, birth), evidence)


def _grade(value: float, family: Level, given: Level, birth: str) -> Grade:
    # Voicing varies in family names (ヤマザキ / ヤマサキ), hardly in given names (ユウコ / ユウゴ).
    if (
        value >= CERTAIN
        and birth == "same"
        and family in ("exact", "phonetic")
        and given in ("exact", "missing")
        and (given == "exact" or family == "exact")
    ):
        return "certain"
    if value >= PROBABLE:
        return "probable"
    if value >= POSSIBLE:
        return "possible"
    return "certainly-not"


# --- names ---------------------------------------------------------------------------------------


def _name_levels(a: Person, b: Person) -> tuple[Level, Level]:
    """Agreement of family and given names. A name given as one string compares whole with
    the other's full name, or else with its family name alone (the given name unknown)."""
    split_a = bool(a.given_kanji or a.given_kana)
    split_b = bool(b.given_kanji or b.given_kana)
    if split_a and split_b:
        family = _level(a.family_kanji, b.family_kanji, a.family_kana, b.family_kana)
        given = _level(a.given_kanji, b.given_kanji, a.given_kana, b.given_kana)
        return family, given
    whole = _level(
        a.family_kanji + a.given_kanji,
        b.family_kanji + b.given_kanji,
        a.family_kana + a.given_kana,
        b.family_kana + b.given_kana,
    )
    if whole != "different" or split_a == split_b:
        return whole, whole
    family = _level(a.family_kanji, b.family_kanji, a.family_kana, b.family_kana)
    return (family, "missing") if family != "different" else ("different", "different")


def _level(kanji_a: str, kanji_b: str, kana_a: str, kana_b: str) -> Level:
    """The best agreement of the readings and the written forms; kanji that differ while the
    readings agree (裕子 / 優子) count as phonetic agreement only."""
    kana = _kana_level(kana_a, kana_b) if kana_a and kana_b else "missing"
    kanji: Level = "missing"
    if kanji_a and kanji_b:
        ka, kb = kanji_key(kanji_a), kanji_key(kanji_b)
        if ka == kb:
            kanji = "exact"
        elif _one_slip(ka, kb):
            kanji = "typo"
        else:
            kanji = "different"
    if kana == "missing":
        return kanji
    if kanji == "missing":
        return kana
    if kana == "exact" and kanji in ("typo", "different"):
        return "phonetic"
    if kanji == "exact" and kana == "different":
        return "typo"  # a wrong reading recorded for the same written name
    return min(kana, kanji, key=_RANK.__getitem__)


_RANK: Final[dict[Level, int]] = {
    "exact": 0,
    "phonetic": 1,
    "typo": 2,
    "different": 3,
    "missing": 4,
}


def _kana_level(a: str, b: str) -> Level:
    if kana_key(a) == kana_key(b):
        return "exact"
    if phonetic_key(a) == phonetic_key(b):
        return "phonetic"
    if _one_slip(kana_form(a), kana_form(b)):
        return "typo"
    return "different"


def _one_slip(a: str, b: str) -> bool:
    """One letter wrong, missing, extra or two neighbours swapped (two slips in long names)."""
    longest = max(len(a), len(b))
    if longest < 3:
        return False
    allowed = 2 if longest >= 8 else 1
    return OSA.distance(a, b, score_cutoff=allowed) <= allowed


# --- other fields ---------------------------------------------------------------------------------


def _sex(a: str, b: str, evidence: dict[str, str]) -> float:
    known = ("male", "female")
    if a not in known or b not in known:
        evidence["sex"] = "missing"
        return 0.0
    evidence["sex"] = "same" if a == b else "different"
    return SEX_AGREE if a == b else SEX_DISAGREE


def _postal(a: str, b: str, evidence: dict[str, str]) -> float:
    da, db = _digits(a), _digits(b)
    if len(da) != 7 or len(db) != 7:
        evidence["postalCode"] = "missing"
        return 0.0
    evidence["postalCode"] = "same" if da == db else "different"
    return POSTAL_AGREE if da == db else POSTAL_DISAGREE


def _address(a: str, b: str, evidence: dict[str, str]) -> float:
    na, nb = normalize_address(a), normalize_address(b)
    if not na or not nb:
        evidence["address"] = "missing"
        return 0.0
    similar = fuzz.partial_ratio(na, nb) >= 90 and min(len(na), len(nb)) >= 4
    evidence["address"] = "same" if similar else "different"
    return ADDRESS_AGREE if similar else ADDRESS_DISAGREE


@lru_cache(maxsize=65536)  # a query's value is compared with every candidate's
def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


_KANJI_DIGITS: Final = {
    "〇": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_NUMBER = re.compile(r"([一二三四五六七八九十〇]+)(?=丁目|番|号)")
_UNITS = re.compile(r"丁目|番地の?|番|号|の(?=\d)")
_DASH = re.compile(r"[-‐‑–—―−ー－]+")
_PREFECTURE = re.compile(r"^.{2,3}?[都道府県](?=.{2,}[市区町村郡])")


@lru_cache(maxsize=65536)
def normalize_address(text: str) -> str:
    """An address in one comparable form: width and variants folded, spaces removed, kanji
    numbers before 丁目/番/号 as digits, 丁目/番地/番/号 as `-`, the prefecture dropped.
    `東京都千代田区丸の内一丁目1番1号` and `千代田区丸の内1-1-1` normalise alike."""
    value = "".join(fold_variants(text).split()).casefold()
    value = _KANJI_NUMBER.sub(lambda m: str(_kanji_number(m[1])), value)
    value = _DASH.sub("-", _UNITS.sub("-", value)).strip("-")
    return _PREFECTURE.sub("", value)


def _kanji_number(text: str) -> int:
    """一〜九十九 (and digit-by-digit forms like 一〇)."""
    if "十" not in text:
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))
    tens, _, ones = text.partition("十")
    return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)


# --- from a FHIR Patient -----------------------------------------------------------------------

REPRESENTATION: Final = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def person_from_patient(patient: dict[str, Any]) -> Person:
    """The demographics of a Patient resource. JP Core marks the kanji name `IDE` and the kana
    reading `SYL` (iso21090-EN-representation); unmarked names are told apart by script."""
    kanji: tuple[str, str] = ("", "")
    kana: tuple[str, str] = ("", "")
    for name in _list(patient.get("name")):
        if not isinstance(name, dict) or name.get("use") in ("old", "maiden"):
            continue
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        given = " ".join(g for g in _list(name.get("given")) if isinstance(g, str))
        if not family and not given:
            family, given = split_name(str(name.get("text") or ""))
        mark = _representation(name)
        if mark == "SYL" or (mark is None and is_kana(f"{family}{given}")):
            kana = kana if kana[0] or kana[1] else (str(family), given)
        elif not (kanji[0] or kanji[1]):
            kanji = (str(family), given)
    address = next((a for a in _list(patient.get("address")) if isinstance(a, dict)), {})
    phone = next(
        (
            str(t.get("value"))
            for t in _list(patient.get("telecom"))
            if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
        ),
        "",
    )
    birth: date | None = None
    if isinstance(patient.get("birthDate"), str) and len(patient["birthDate"]) == 10:
        try:
            birth = date.fromisoformat(patient["birthDate"])
        except ValueError:
            birth = None
    return Person(
        family_kanji=kanji[0],
        given_kanji=kanji[1],
        family_kana=kana[0],
        given_kana=kana[1],
        birthdate=birth,
        sex=str(patient.get("gender") or ""),
        postal_code=str(address.get("postalCode") or ""),
        address=address_text(address),
        phone=phone,
        identifiers=tuple(
            f"{i['system']}|{i['value']}"
            for i in _list(patient.get("identifier"))
            if isinstance(i, dict) and isinstance(i.get("system"), str) and i.get("value")
        ),
    )


def address_text(address: dict[str, Any]) -> str:
    """An Address as one line: its `text`, else state + city + district + lines."""
    if isinstance(address.get("text"), str) and address["text"]:
        return str(address["text"])
    parts = [address.get(k) for k in ("state", "city", "district")]
    parts += _list(address.get("line"))
    return "".join(p for p in parts if isinstance(p, str))


def _representation(name: dict[str, Any]) -> str | None:
    for ext in _list(name.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == REPRESENTATION:
            code = ext.get("valueCode")
            return code if isinstance(code, str) else None
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def grade_extension(grade: Grade) -> dict[str, object]:
    """The PDQm match-grade extension for `Bundle.entry.search`."""
    return {"url": GRADE_EXTENSION, "valueCode": grade}


__all__ = [
    "CERTAIN",
    "GRADE_EXTENSION",
    "POSSIBLE",
    "PROBABLE",
    "REPRESENTATION",
    "Grade",
    "MatchResult",
    "Person",
    "address_text",
    "grade_extension",
    "normalize_address",
    "person_from_patient",
    "score",
]
