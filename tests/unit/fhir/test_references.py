"""Rewriting references inside resources."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.references import is_conditional_reference, placeholder_replacer, rewrite


def test_placeholders_are_replaced_everywhere_they_stand_alone() -> None:
    urn = "urn:uuid:1"
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "subject": {"reference": urn},
        "hasMember": [{"reference": urn}, {"reference": "Patient/x"}],
        "text": {"div": f'<div><a href="{urn}">p</a></div>'},
        "note": [{"text": "see urn:uuid:1 here"}],
    }
    result = rewrite(resource, placeholder_replacer({urn: "Patient/7"}))
    assert result["subject"]["reference"] == "Patient/7"
    assert [r["reference"] for r in result["hasMember"]] == ["Patient/7", "Patient/x"]
    assert 'href="Patient/7"' in result["text"]["div"]
    assert result["note"][0]["text"] == "see urn:uuid:1 here"  # free text is not a reference
    assert resource["subject"]["reference"] == urn  # the input is untouched


def test_conditional_reference_shape() -> None:
    assert is_conditional_reference("Patient?identifier=a|b")
    assert not is_conditional_reference("Patient/1")
    assert not is_conditional_reference("http://x/Patient?x=1")
    assert not is_conditional_reference("urn:uuid:1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=20,
)


@given(json_values)
def test_rewrite_with_nothing_to_replace_is_identity(value: Any) -> None:
    assert rewrite(value, lambda key, text: None) == value
