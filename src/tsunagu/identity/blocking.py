"""Blocking keys for patient matching: a normalised full name tied to part of the birthdate.

`Patient/$match` finds candidates with indexed searches only. By birthdate alone (exact, or
one typing slip away) a block holds a few dozen people even at national scale. By name alone
it does not: at 1,000,000 patients a common full name (サトウ ヒロシ) has hundreds of namesakes,
and each must be read and scored. Yet a namesake is only worth scoring when its birthdate is
close to the query's: a candidate whose birthdate agrees in fewer than two of year, month and
day weighs at least 7 log-odds units against it (`matching.BIRTHDATE_WEIGHTS`), which no
combination of name, sex, address and phone makes up for (only a shared identifier does, and
identifiers have blocks of their own).

So a Patient carries keys of its full name with the birthdate's month and day, and with its
year: `kana:<reading>:md:0301`, `kana:<reading>:y:1975`, and the same for the kanji name. Two
of year, month and day agree exactly when one of the two keys does (same year, or same month
and day), so looking up a query's keys returns every namesake that could still be returned,
and almost nobody else. The reading is folded as for blocking (`names.phonetic_key`: script,
width, small kana, long vowels, voicing) and the kanji name with its variants folded
(`names.kanji_key`), so one key covers every spelling the name blocks used to try in turn.

A birthdate one typing slip away (`dates.date_variants`: 1975-03-01 typed 1957-03-01) is worth
scoring only with a name that agrees: a slip weighs far less than the same day, and with both
the family and the given name different the candidate is `certainly-not`. So a Patient also
carries each part of its name with its exact birthdate (`kana-family:<reading>:d:19750301`,
`kana-given:…`, `kanji-family:…`, `kanji-given:…`), and a query looks up its own parts with
each slip of its birthdate: dozens of people born on those days shrink to the few who share a
name. (A slip together with typos in both parts of the name is not found this way.)

The keys are indexed as the token search parameter `match-key` of Patient (a computed
parameter: `search.parameters.ComputedParam`), in the same transaction as the resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from tsunagu.fhir.definitions import SearchParameterDef
from tsunagu.identity.matching import Person, person_from_patient
from tsunagu.identity.names import kanji_key, phonetic_key

CODE: Final = "match-key"
DEFINITION: Final = SearchParameterDef(
    url="urn:tsunagu:SearchParameter/Patient-match-key",
    code=CODE,
    base=("Patient",),
    type="token",
)
DOCUMENTATION: Final = (
    "照合用キー: 正規化した氏名と生年月日の月日または年 (Patient/$match のブロッキング) / "
    "matching key: the normalised full name with the birthdate's month-day or year "
    "(blocking for Patient/$match), e.g. kana:ヤマタタロ:md:0301; and each part of the name "
    "with the birthdate, e.g. kana-given:タロ:d:19750301"
)
ROOTS: Final = frozenset({"name", "birthDate"})
# Characters with a meaning in token search values (system|code, OR lists, escapes, composite
# separators); never part of a key, on either side.
_RESERVED: Final = str.maketrans("", "", "|,$\\")


def record_keys(patient: Mapping[str, Any]) -> list[str]:
    """The keys a stored Patient is indexed under (none without a birthdate or a name)."""
    person = person_from_patient(dict(patient))
    if person.birthdate is None:
        return []
    return _keys(person, require_given=False) + _part_keys(person, [person.birthdate])


def slip_keys(query: Person, days: Sequence[date]) -> list[str]:
    """The keys of each part of the query's name with each of these birthdates (its slips)."""
    return _part_keys(query, days)


def _part_keys(person: Person, days: Sequence[date]) -> list[str]:
    parts = [
        ("kana-family", phonetic_key(person.family_kana)),
        ("kana-given", phonetic_key(person.given_kana)),
        ("kanji-family", kanji_key(person.family_kanji)),
        ("kanji-given", kanji_key(person.given_kanji)),
    ]
    names = [name for name in (_name(part, key) for part, key in parts) if name]
    return [f"{name}:d:{day:%Y%m%d}" for day in days for name in names]


def query_keys(query: Person) -> list[str]:
    """The keys to look a query up by: those of each script in which the query gives both a
    family and a given name (none without a birthdate). A script with only part of the name
    is left to the prefix name search."""
    return _keys(query, require_given=True)


def has_full_name(query: Person) -> tuple[bool, bool]:
    """Whether the query gives a family and a given name in kana, and in kanji."""
    return (
        bool(query.family_kana and query.given_kana),
        bool(query.family_kanji and query.given_kanji),
    )


def _keys(person: Person, *, require_given: bool) -> list[str]:
    if person.birthdate is None:
        return []
    kana_full, kanji_full = has_full_name(person)
    names: list[str] = []
    if kana_full or not require_given:
        names.append(_name("kana", phonetic_key(person.family_kana + person.given_kana)))
    if kanji_full or not require_given:
        names.append(_name("kanji", kanji_key(person.family_kanji + person.given_kanji)))
    facets = _facets(person.birthdate)
    return [f"{name}:{facet}" for name in names if name for facet in facets]


def _name(script: str, key: str) -> str:
    key = key.translate(_RESERVED)
    return f"{script}:{key}" if key else ""


def _facets(birthdate: date) -> tuple[str, str]:
    return (f"md:{birthdate.month:02d}{birthdate.day:02d}", f"y:{birthdate.year:04d}")
