"""Japanese name normalisation for matching: width, script, small kana, long vowels, variants."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.names import (
    VARIANT_KANJI,
    is_kana,
    kana_form,
    kana_key,
    kana_spellings,
    kanji_key,
    kanji_spellings,
    phonetic_key,
    split_name,
)

KANA = st.text(
    alphabet="ぁあぃいぅうぇえぉおかがきぎくぐっつづゃやゅゆょよ"
    "アァイィウゥエェオォカガッヤャユュヨョーンヴ 　",
    max_size=20,
)
NAMES = st.text(alphabet="山田髙高橋﨑崎齋斎斉邉邊辺澤沢太郎花子ＡＢab 　・", max_size=12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),
        ("やまだ　たろう", "ヤマダ タロウ"),
        ("ユウコ", "ユーコ"),
        ("オオノ", "オーノ"),
        ("オウノ", "オーノ"),
        ("キョウコ", "キヨウコ"),
        ("ケイコ", "ケーコ"),
        ("ミヅキ", "ミズキ"),
        ("シンイチ", "シンイチ"),
    ],
)
def test_same_reading(a: str, b: str) -> None:
    assert kana_key(a) == kana_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("ヤマダ", "ヤマタ"), ("サトウ", "サイトウ"), ("ユウコ", "ユキコ"), ("オノ", "カノ")],
)
def test_different_readings(a: str, b: str) -> None:
    assert kana_key(a) != kana_key(b)


def test_phonetic_key_ignores_voicing_only() -> None:
    assert phonetic_key("ヤマザキ") == phonetic_key("ヤマサキ")
    assert phonetic_key("ハセガワ") == phonetic_key("はせかわ")
    assert phonetic_key("ヤマダ") != phonetic_key("ヤマノ")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("齋藤", "斎藤"),
        ("齊藤", "斉藤"),
        ("渡邉", "渡辺"),
        ("渡邊", "渡辺"),
        ("澤田", "沢田"),
        ("濱田", "浜田"),
        ("廣瀬", "広瀬"),
        ("櫻井", "桜井"),
        ("國男", "国男"),
        ("眞一", "真一"),
        ("德川", "徳川"),
        ("瀨戸", "瀬戸"),
        ("山田　太郎", "山田太郎"),
        ("山田 太郎", "山田太郎"),
    ],
)
def test_variant_kanji_and_spaces_fold(a: str, b: str) -> None:
    assert kanji_key(a) == kanji_key(b)


def test_every_variant_folds_to_a_character_that_is_not_itself_a_variant() -> None:
    for variant, standard in VARIANT_KANJI.items():
        assert variant != standard
        assert standard not in VARIANT_KANJI, standard
        assert kanji_key(variant) == standard


def test_different_kanji_stay_different() -> None:
    assert kanji_key("裕子") != kanji_key("優子")
    assert kanji_key("高橋") != kanji_key("髙田")


@given(KANA)
def test_kana_keys_are_idempotent(text: str) -> None:
    assert kana_form(kana_form(text)) == kana_form(text)
    assert kana_key(kana_key(text)) == kana_key(text)
    assert phonetic_key(phonetic_key(text)) == phonetic_key(text)


@given(NAMES)
def test_kanji_key_is_idempotent_and_space_insensitive(text: str) -> None:
    assert kanji_key(kanji_key(text)) == kanji_key(text)
    assert kanji_key(text.replace(" ", "")) == kanji_key(text.replace(" ", "\u3000"))


@given(KANA)
def test_width_and_script_do_not_matter(text: str) -> None:
    katakana = jaconv.hira2kata(text)
    assert kana_key(text) == kana_key(katakana)
    assert kana_key(katakana) == kana_key(jaconv.z2h(katakana, kana=True))
    assert kana_key(text) == kana_key(jaconv.kata2hira(katakana))


def test_spellings_for_lookups() -> None:
    assert set(kana_spellings("ユーコ")) == {"ユーコ", "ユウコ"}
    assert set(kana_spellings("さとう")) == {"サトウ", "サトー"}
    assert kanji_spellings("髙橋 優子") == ["髙橋優子", "高橋優子"]
    assert kanji_spellings("高橋") == ["高橋", "髙橋"]


def test_split_and_script() -> None:
    assert split_name("山田　太郎") == ("山田", "太郎")
    assert split_name("ﾔﾏﾀﾞ ﾀﾛｳ") == ("ヤマダ", "タロウ")
    assert split_name("山田太郎") == ("山田太郎", "")
    assert is_kana("やまだ たろう")
    assert not is_kana("山田")
