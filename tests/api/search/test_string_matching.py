"""String search against an oracle: prefixes, `:contains` and `:exact` over awkward text.

Family names are drawn from an alphabet that mixes what Japanese records hold (kanji,
hiragana, full-width and half-width katakana, full-width letters) with the characters that a
database or the search syntax treat specially: LIKE's `%`, `_` and `\\`, and FHIR's `,`, `$`
and `|`, which a search value escapes with `\\`. The oracle is the R4 definition over
`search.text.normalize` (the folding a Japanese user expects, tested on its own in
`tests/unit/search/test_text.py`): the default matches a normalised prefix, `:contains` a
normalised substring, `:exact` the whole value as written. Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#string and #escaping
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import escape, loaded_client
from tsunagu.search.text import normalize

ALPHABET = "abAB %_\\,$|やまだヤマダﾔﾏﾀﾞ山田髙ＡＢé"


def _names() -> list[str]:
    rng = random.Random(20261123)
    fixed = ["山田", "やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "100%", "a_b", "a\\b", "a,b", "a$b", "a|b", "ＡＢ"]
    drawn = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(60)]
    # A family name is never blank: leading and trailing spaces are not FHIR strings.
    return list(dict.fromkeys(n for n in fixed + drawn if n.strip() == n and n))


NAMES = _names()
IDS = {name: f"s{n:03d}" for n, name in enumerate(NAMES)}


client = loaded_client(
    {"resourceType": "Patient", "id": id, "name": [{"family": family}]}
    for family, id in IDS.items()
)


def oracle(modifier: str, query: str) -> set[str]:
    if modifier == ":exact":
        return {IDS[query]} if query in IDS else set()
    wanted = normalize(query)
    if modifier == ":contains":
        return {id for name, id in IDS.items() if wanted in normalize(name)}
    return {id for name, id in IDS.items() if normalize(name).startswith(wanted)}


def found(client: TestClient, modifier: str, query: str) -> set[str]:
    response = client.get(
        "/fhir/Patient", params={f"family{modifier}": escape(query), "_count": "1000"}
    )
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert [e for e in bundle.get("entry", []) if e["search"]["mode"] != "match"] == []
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


@st.composite
def queries(draw: st.DrawFn) -> str:
    """Part of a stored name (so that there is something to find), or any short text."""
    if draw(st.booleans()):
        name = draw(st.sampled_from(NAMES))
        start = draw(st.integers(0, len(name) - 1))
        end = draw(st.integers(start + 1, len(name)))
        return name[start:end]
    return draw(st.text(alphabet=ALPHABET, min_size=1, max_size=4))


@settings(max_examples=150)
@given(modifier=st.sampled_from(["", ":contains", ":exact"]), query=queries())
def test_string_search_matches_the_oracle(client: TestClient, modifier: str, query: str) -> None:
    if not query.strip():
        return  # a blank value is not a search (tested with the errors)
    assert found(client, modifier, query) == oracle(modifier, query)


@pytest.mark.parametrize(
    ("modifier", "query", "expected"),
    [
        ("", "100%", {"100%"}),
        ("", "a_", {"a_b"}),  # `_` is a character, not LIKE's any-one
        ("", "a\\", {"a\\b"}),
        ("", "a,", {"a,b"}),  # an escaped comma is part of the value, not an OR
        ("", "a$b", {"a$b"}),
        ("", "a|b", {"a|b"}),
        (":exact", "a\\b", {"a\\b"}),
        (":exact", "ヤマダ", {"ヤマダ"}),
        ("", "やまだ", {"やまだ", "ヤマダ", "ﾔﾏﾀﾞ"}),
    ],
)
def test_special_characters_are_plain_text(
    client: TestClient, modifier: str, query: str, expected: set[str]
) -> None:
    assert found(client, modifier, query) & {IDS[n] for n in expected} == {IDS[n] for n in expected}
    assert found(client, modifier, query) == oracle(modifier, query)
