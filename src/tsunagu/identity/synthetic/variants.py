"""How the same person gets written differently: the errors and habits a matcher must survive.

Used for duplicate registrations in the synthetic population (`tsunagu seed`) and for the
queries of the matching benchmark, where the truth is known. Each variant function takes the
demographics and returns them changed in one way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Final

import jaconv

from tsunagu.identity.dates import date_variants, to_wareki
from tsunagu.identity.matching import Person
from tsunagu.identity.names import VARIANT_KANJI

# Standard form → a variant form people register with (the reverse of names.VARIANT_KANJI).
_TO_VARIANT: Final = {standard: variant for variant, standard in reversed(VARIANT_KANJI.items())}
# Kana typed by mistake for each other (voicing, neighbours on the kana keyboard, similar shape).
_CONFUSABLE: Final = {
    "カ": "ガ",
    "ガ": "カ",
    "サ": "ザ",
    "ザ": "サ",
    "タ": "ダ",
    "ダ": "タ",
    "ハ": "バ",
    "バ": "ハ",
    "シ": "ツ",
    "ツ": "シ",
    "ソ": "ン",
    "ン": "ソ",
    "コ": "ゴ",
    "キ": "ギ",
    "ト": "ド",
    "ウ": "ー",
    "ロ": "ル",
    "ル": "ロ",
    "ミ": "ニ",
    "ナ": "マ",
    "マ": "ナ",
    "ヨ": "ユ",
    "ユ": "ヨ",
    "ケ": "ゲ",
    "イ": "エ",
}
_KANJI_HOMOPHONES: Final = {
    "裕子": "優子",
    "優子": "裕子",
    "洋子": "陽子",
    "陽子": "洋子",
    "博": "浩",
    "浩": "弘",
    "弘": "博",
    "恵子": "啓子",
    "智子": "知子",
    "誠": "真",
    "健一": "賢一",
    "隆": "崇",
}

Variant = Callable[[random.Random, Person], Person]


def kana_typo(rng: random.Random, p: Person) -> Person:
    """One kana of the reading mistyped (voicing, a neighbour, a similar shape)."""
    field = "given_kana" if rng.random() < 0.5 else "family_kana"
    value = getattr(p, field)
    positions = [i for i, ch in enumerate(value) if ch in _CONFUSABLE]
    if not positions:
        return p
    i = rng.choice(positions)
    return replace(p, **{field: value[:i] + _CONFUSABLE[value[i]] + value[i + 1 :]})


def long_vowel(rng: random.Random, p: Person) -> Person:
    """ウ after an o/u sound written as ー (ユウコ → ユーコ, サトウ → サトー)."""
    for field in ("given_kana", "family_kana"):
        value = getattr(p, field)
        if "ウ" in value[1:]:
            i = value.index("ウ", 1)
            return replace(p, **{field: value[:i] + "ー" + value[i + 1 :]})
    return p


def width_and_script(rng: random.Random, p: Person) -> Person:
    """Kana in half-width or in hiragana, with a full-width space in the kanji name."""
    convert = jaconv.z2h if rng.random() < 0.5 else jaconv.kata2hira
    return replace(
        p,
        family_kana=convert(p.family_kana),
        given_kana=convert(p.given_kana),
        family_kanji=p.family_kanji + "\u3000" if p.family_kanji else "",
    )


def variant_kanji(rng: random.Random, p: Person) -> Person:
    """The family name in an old or variant form (高橋 → 髙橋), when it has one."""
    changed = "".join(_TO_VARIANT.get(ch, ch) for ch in p.family_kanji)
    if changed == p.family_kanji:
        changed = "".join(_TO_VARIANT.get(ch, ch) for ch in p.given_kanji)
        return replace(p, given_kanji=changed)
    return replace(p, family_kanji=changed)


def kanji_homophone(rng: random.Random, p: Person) -> Person:
    """A conversion slip: the given name in other kanji with the same reading (裕子 → 優子)."""
    return replace(p, given_kanji=_KANJI_HOMOPHONES.get(p.given_kanji, p.given_kanji))


def transposed_date(rng: random.Random, p: Person) -> Person:
    """Two adjacent digits of the birthdate swapped, or day and month swapped."""
    if p.birthdate is None:
        return p
    options = date_variants(p.birthdate)
    return replace(p, birthdate=rng.choice(options)) if options else p


def missing_fields(rng: random.Random, p: Person) -> Person:
    """Only part of the demographics known: no kanji, or no address, or no sex."""
    roll = rng.random()
    if roll < 0.4:
        return replace(p, family_kanji="", given_kanji="")
    if roll < 0.8:
        return replace(p, address="", postal_code="", phone="")
    return replace(p, sex="")


def address_format(rng: random.Random, p: Person) -> Person:
    """The address written another way: 一丁目2番3号, without the prefecture, no hyphen in
    the postal code."""
    address = p.address
    parts = address.rsplit("-", 2)
    if len(parts) == 3 and parts[0] and parts[0][-1].isdigit():
        head, ban, go = parts
        chome = int(head[-1])
        address = f"{head[:-1]}{'〇一二三四五六七八九'[chome]}丁目{ban}番{go}号"
    for suffix in ("都", "道", "府", "県"):
        index = address.find(suffix)
        if 0 < index <= 3 and rng.random() < 0.5:
            address = address[index + 1 :]
            break
    return replace(p, address=address, postal_code=p.postal_code.replace("-", ""))


def moved(rng: random.Random, p: Person) -> Person:
    """Registered at an old address: address and postal code unknown to the other record."""
    return replace(p, address="", postal_code="", phone="")


VARIANTS: Final[dict[str, Variant]] = {
    "kana_typo": kana_typo,
    "long_vowel": long_vowel,
    "width_and_script": width_and_script,
    "variant_kanji": variant_kanji,
    "kanji_homophone": kanji_homophone,
    "transposed_date": transposed_date,
    "missing_fields": missing_fields,
    "address_format": address_format,
    "moved": moved,
}


# What differs between two registrations of one person at two facilities.
DUPLICATE_KINDS: Final = (
    "kana_typo",
    "long_vowel",
    "variant_kanji",
    "kanji_homophone",
    "address_format",
    "moved",
    "transposed_date",
)


def vary(rng: random.Random, p: Person, kinds: list[str]) -> Person:
    """Apply the named variants in order."""
    for kind in kinds:
        p = VARIANTS[kind](rng, p)
    return p


def wareki(value: date) -> str:
    """The birthdate as typed by someone using the era calendar (for query inputs)."""
    return to_wareki(value)
