"""Token search against an oracle: every form of a token value, `:not` and `:text`.

Observations carry codes from a few systems (and codings without one), some with the
characters that the token syntax treats specially (`|`, `,`, `$`, `\\`), which a search value
escapes with `\\`, codes that differ only in case, and Japanese displays and texts. The oracle
is R4's definition: `code` matches any system, `system|code` both, `|code` a coding without a
system, `system|` any code of the system; `:not` is every resource with no matching coding
(those without a value too); `:text` matches the normalised start of a CodeableConcept's text
or a coding's display. Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#token
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import escape, loaded_client
from tsunagu.search.text import normalize

SYSTEMS = ["http://loinc.org", "urn:oid:1.2.392.200119.4.504", None]
CODES = ["2345-7", "A|B", "a,b", "x$y", "c\\d", "HbA1c", "hba1c", "血糖"]
DISPLAYS = ["血糖値", "ヘモグロビンA1c", "ｹｯﾄｳ", "Glucose", None]


def _codings(rng: random.Random) -> list[dict[str, str]]:
    codings = []
    for _ in range(rng.randint(1, 2)):
        coding = {"code": rng.choice(CODES)}
        system, display = rng.choice(SYSTEMS), rng.choice(DISPLAYS)
        if system is not None:
            coding["system"] = system
        if display is not None:
            coding["display"] = display
        codings.append(coding)
    return codings


def _concepts() -> dict[str, dict[str, Any]]:
    """Observation id -> its `code` (a CodeableConcept)."""
    rng = random.Random(20261123)
    out: dict[str, dict[str, Any]] = {}
    for n in range(60):
        concept: dict[str, Any] = {}
        if n % 7 != 0:
            concept["coding"] = _codings(rng)
        if n % 3 == 0 or "coding" not in concept:
            concept["text"] = rng.choice(["空腹時血糖", "ｸｳﾌｸｼﾞ", "HbA1c (NGSP)"])
        out[f"k{n:03d}"] = concept
    return out


CONCEPTS = _concepts()


client = loaded_client(
    {"resourceType": "Observation", "id": id, "status": "final", "code": concept}
    for id, concept in CONCEPTS.items()
)


# A search: (form, system, code) with form one of "code", "system|code", "|code", "system|".
Search = tuple[str, str | None, str]


def value_of(search: Search) -> str:
    form, system, code = search
    return {
        "code": escape(code),
        "system|code": f"{escape(system or '')}|{escape(code)}",
        "|code": f"|{escape(code)}",
        "system|": f"{escape(system or '')}|",
    }[form]


def coding_matches(search: Search, coding: dict[str, str]) -> bool:
    form, system, code = search
    if form == "code":
        return coding["code"] == code
    if form == "system|code":
        return coding.get("system") == system and coding["code"] == code
    if form == "|code":
        return "system" not in coding and coding["code"] == code
    return coding.get("system") == system


def oracle(search: Search, negated: bool) -> set[str]:
    found = {
        id
        for id, concept in CONCEPTS.items()
        if any(coding_matches(search, c) for c in concept.get("coding", []))
    }
    return set(CONCEPTS) - found if negated else found


def found(client: TestClient, param: str, value: str) -> set[str]:
    response = client.get("/fhir/Observation", params={param: value, "_count": "1000"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert [e for e in bundle.get("entry", []) if e["search"]["mode"] != "match"] == []
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


searches = st.tuples(
    st.sampled_from(["code", "system|code", "|code", "system|"]),
    st.sampled_from([s for s in SYSTEMS if s] + ["http://other.example"]),
    st.sampled_from([*CODES, "2345", "A"]),
)


@settings(max_examples=150)
@given(search=searches, negated=st.booleans())
def test_token_search_matches_the_oracle(client: TestClient, search: Search, negated: bool) -> None:
    param = "code:not" if negated else "code"
    assert found(client, param, value_of(search)) == oracle(search, negated)


@settings(max_examples=60)
@given(
    first=searches,
    second=searches,
)
def test_or_values_are_the_union(client: TestClient, first: Search, second: Search) -> None:
    value = f"{value_of(first)},{value_of(second)}"
    assert found(client, "code", value) == oracle(first, False) | oracle(second, False)


def _texts(concept: dict[str, Any]) -> list[str]:
    texts = [concept["text"]] if "text" in concept else []
    return texts + [c["display"] for c in concept.get("coding", []) if "display" in c]


@settings(max_examples=60)
@given(
    st.sampled_from(sorted({t for concept in CONCEPTS.values() for t in _texts(concept)})).flatmap(
        lambda text: st.integers(1, len(text)).map(lambda n: text[:n])
    )
)
def test_text_matches_the_start_of_a_text_or_a_display(client: TestClient, start: str) -> None:
    wanted = normalize(start)
    expected = {
        id
        for id, concept in CONCEPTS.items()
        if any(normalize(text).startswith(wanted) for text in _texts(concept))
    }
    assert found(client, "code:text", escape(start)) == expected
