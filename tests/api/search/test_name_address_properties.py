"""`name`, `phonetic`, `family`, `given`, `address` and its parts against an oracle.

`name` and `address` store only the strings their parts' parameters do not (`family`, `given`;
`address-city`, ...) and read those parameters' rows too (`search.index._leave_out_parts`,
`search.aliases`), so what a search finds must still be what R4 says: `name` matches any of
a HumanName's text, family, given, prefix and suffix (and, as Japanese users write it, family
and given names joined, with or without a space); `address` any of an Address's text, lines,
city, district, state, postal code and country. Prefix by default, `:contains` and `:exact`,
over kanji, kana of both widths and romaji names, several names per patient. Both backends.
See: https://hl7.org/fhir/R4/patient.html#search and https://hl7.org/fhir/R4/search.html#string
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import escape, loaded_client
from tsunagu.search.text import normalize

FAMILIES = ["山田", "ヤマダ", "ﾔﾏﾀﾞ", "Yamada", "佐藤", "サトウ"]
GIVENS = ["太郎", "タロウ", "花子", "ハナコ", "Taro"]
CITIES = ["千代田区", "福岡市博多区", "札幌市"]
STATES = ["東京都", "福岡県", "北海道"]


def _name(rng: random.Random) -> dict[str, Any]:
    name: dict[str, Any] = {}
    if rng.random() < 0.9:
        name["family"] = rng.choice(FAMILIES)
    if rng.random() < 0.8:
        name["given"] = rng.sample(GIVENS, rng.randint(1, 2))
    if rng.random() < 0.3:
        name["prefix"] = ["Dr."]
    if rng.random() < 0.3 or not name:
        name["text"] = " ".join([name.get("family", "山田"), *name.get("given", [])])
    return name


def _address(rng: random.Random) -> dict[str, Any]:
    address: dict[str, Any] = {"city": rng.choice(CITIES), "state": rng.choice(STATES)}
    if rng.random() < 0.6:
        address["line"] = [f"{rng.randint(1, 9)}-{rng.randint(1, 20)}-{rng.randint(1, 30)}"]
    if rng.random() < 0.5:
        address["postalCode"] = f"{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}"
    if rng.random() < 0.3:
        address["text"] = f"{address['state']}{address['city']}{''.join(address.get('line', []))}"
    return address


def _patients() -> dict[str, dict[str, Any]]:
    rng = random.Random(20261123)
    out: dict[str, dict[str, Any]] = {}
    for n in range(40):
        patient: dict[str, Any] = {"resourceType": "Patient", "id": f"n{n:02d}"}
        patient["name"] = [_name(rng) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.8:
            patient["address"] = [_address(rng)]
        out[patient["id"]] = patient
    return out


PATIENTS = _patients()
client = loaded_client(PATIENTS.values())


def name_strings(patient: dict[str, Any], param: str) -> list[str]:
    out: list[str] = []
    for name in patient.get("name", []):
        family, givens = name.get("family"), name.get("given", [])
        if param == "family":
            out += [family] if family else []
        elif param == "given":
            out += givens
        else:  # name, phonetic
            out += [name[k] for k in ("text", "family") if k in name]
            out += givens + name.get("prefix", []) + name.get("suffix", [])
            if family and givens:
                out += [family + "".join(givens), f"{family} {' '.join(givens)}"]
    return out


def address_strings(patient: dict[str, Any], param: str) -> list[str]:
    out: list[str] = []
    for address in patient.get("address", []):
        if param == "address-city":
            out += [address["city"]]
        elif param == "address-state":
            out += [address["state"]]
        elif param == "address-postalcode":
            out += [address["postalCode"]] if "postalCode" in address else []
        else:
            out += [address[k] for k in ("text", "city", "state", "postalCode") if k in address]
            out += address.get("line", [])
    return out


def oracle(param: str, modifier: str, query: str) -> set[str]:
    strings = address_strings if param.startswith("address") else name_strings
    wanted = normalize(query)

    def matches(text: str) -> bool:
        if modifier == ":exact":
            return text == query
        if modifier == ":contains":
            return wanted in normalize(text)
        return normalize(text).startswith(wanted)

    return {id for id, p in PATIENTS.items() if any(map(matches, strings(p, param)))}


def found(client: TestClient, param: str, value: str) -> set[str]:
    response = client.get("/fhir/Patient", params={param: value, "_count": "1000"})
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


NAME_QUERIES = [
    *FAMILIES,
    *GIVENS,
    "山",
    "やま",
    "ﾀﾛ",
    "山田太郎",
    "山田 太郎",
    "ヤマダ タロウ",
    "Dr",
    "田",
]
ADDRESS_QUERIES = [*CITIES, *STATES, "福岡", "千代田", "1-", "100-", "東京都千代田区"]


@settings(max_examples=100)
@given(
    param=st.sampled_from(["name", "phonetic", "family", "given"]),
    modifier=st.sampled_from(["", ":contains", ":exact"]),
    query=st.sampled_from(NAME_QUERIES),
)
def test_names_match_the_oracle(client: TestClient, param: str, modifier: str, query: str) -> None:
    if param == "phonetic" and modifier:
        return  # phonetic takes no modifier in R4's definitions (a sounds-like search)
    assert found(client, f"{param}{modifier}", escape(query)) == oracle(param, modifier, query)


@settings(max_examples=60)
@given(
    param=st.sampled_from(["address", "address-city", "address-state", "address-postalcode"]),
    modifier=st.sampled_from(["", ":contains", ":exact"]),
    query=st.sampled_from(ADDRESS_QUERIES),
)
def test_addresses_match_the_oracle(
    client: TestClient, param: str, modifier: str, query: str
) -> None:
    assert found(client, f"{param}{modifier}", escape(query)) == oracle(param, modifier, query)
