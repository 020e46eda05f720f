"""A prefix as a range of code points (`search.sql.starts_with`): string searches, `:text`
of tokens, `:below` of URIs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.search.sql import starts_with

# Near the ends of the code point range and of the surrogate gap, and kana.
_CHARS = st.sampled_from(["a", "z", "ヤ", "マ", "ダ", "チ", "\ud7ff", "\ue000", "\U0010ffff"])
_TEXT = st.text(alphabet=_CHARS, max_size=5)


def _in_range(text: str, prefix: str) -> bool:
    fragment = starts_with("norm", prefix)
    low, *high = fragment.params
    return bool(low <= text and (not high or text < high[0]))


@given(_TEXT, _TEXT)
def test_the_range_holds_exactly_the_strings_with_the_prefix(prefix: str, rest: str) -> None:
    assert _in_range(prefix + rest, prefix)


@given(_TEXT, _TEXT)
def test_a_string_in_the_range_starts_with_the_prefix(prefix: str, text: str) -> None:
    assert _in_range(text, prefix) == text.startswith(prefix)


def test_the_statement_is_a_range_of_the_column() -> None:
    assert starts_with("s1.norm", "ヤマダ").sql == "s1.norm >= ? AND s1.norm < ?"
    assert starts_with("s1.norm", "ヤマダ").params == ("ヤマダ", "ヤマチ")
    assert starts_with("s1.norm", "a\ud7ff").params == ("a\ud7ff", "a\ue000")
    assert starts_with("s1.norm", "").sql == "s1.norm >= ?"  # everything
    assert starts_with("s1.norm", "\U0010ffff").sql == "s1.norm >= ?"
