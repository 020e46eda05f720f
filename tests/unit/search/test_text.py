"""Japanese-aware normalisation for string search."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.search.text import like_escape, normalize


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ヤマダ", "やまだ"),
        ("ヤマダ", "ﾔﾏﾀﾞ"),
        ("ＹＡＭＡＤＡ", "yamada"),
        ("Éléonore", "eleonore"),
        ("ガッコウ", "がっこう"),
        ("パン", "ﾊﾟﾝ"),
    ],
)
def test_equivalent_forms(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    ("a", "b"), [("ダ", "タ"), ("パ", "ハ"), ("髙橋", "高橋"), ("ユウコ", "ユーコ")]
)
def test_distinct_forms(a: str, b: str) -> None:
    assert normalize(a) != normalize(b)


@given(st.text(max_size=30))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(alphabet="ぁあいうえおかがきぎゃゅょっアイウエオカガキギャュョッー", max_size=20))
def test_hiragana_and_katakana_meet(text: str) -> None:
    import jaconv

    assert normalize(text) == normalize(jaconv.hira2kata(text))


def test_like_escape() -> None:
    assert like_escape("50%_a\\b") == "50\\%\\_a\\\\b"
