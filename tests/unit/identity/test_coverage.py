"""JP Core Coverage ↔ insurance facts, and coverage_issues (expression-precise)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.coverage import (
    CARD_ID_SYSTEM,
    LIMIT_CATEGORIES,
    LIMIT_EXTENSION,
    LOSS_EXTENSION,
    CoverageError,
    CoverageFacts,
    LimitApplication,
    card_key,
    coverage_facts,
    coverage_issues,
    coverage_resource,
    insurance_type,
)
from tsunagu.identity.insurance import (
    INSURANCE_TYPE_SYSTEM,
    MEMBER_ID_SYSTEM,
    NUMBER_EXTENSION,
    PUBLIC_PAYER_NUMBER_SYSTEM,
    MemberId,
    with_check_digit,
)

INSURER = with_check_digit("0613999")


def facts(**changes: Any) -> CoverageFacts:
    base = CoverageFacts(
        member=MemberId.of(INSURER, "１２－３４", "５６７８", "01"),
        start=date(2024, 4, 1),
        end=date(2026, 3, 31),
        beneficiary="Patient/p1",
        relationship="2",
        copay_percent=30,
        limit=LimitApplication("A03", "01", date(2024, 8, 1), date(2025, 7, 31)),
        insurer_name="つなぐ健康保険組合",
    )
    return CoverageFacts(**{**base.__dict__, **changes})


def test_resource_shape() -> None:
    resource = coverage_resource(facts())
    assert resource["identifier"][0] == {
        "system": MEMBER_ID_SYSTEM,
        "value": f"{INSURER}:12-34:5678:01",
    }
    assert resource["identifier"][1] == {"system": CARD_ID_SYSTEM, "value": f"{INSURER}:12-34:5678"}
    assert resource["dependent"] == "01"
    assert resource["payor"][0]["identifier"]["value"] == INSURER
    assert resource["payor"][0]["display"] == "つなぐ健康保険組合"
    assert resource["type"]["coding"][0] == {
        "system": INSURANCE_TYPE_SYSTEM,
        "code": "1",
        "display": "医保",
    }
    assert resource["costToBeneficiary"][0]["valueQuantity"]["value"] == 30
    assert resource["period"] == {"start": "2024-04-01", "end": "2026-03-31"}
    limit = next(e for e in resource["extension"] if e["url"] == LIMIT_EXTENSION)
    assert limit["extension"][0]["valueCoding"]["code"] == "A03"
    assert coverage_issues(resource) == []


def test_insurance_types() -> None:
    assert insurance_type(MemberId.of(with_check_digit("13840"), "", "1", "")) == "2"
    assert insurance_type(MemberId.of(with_check_digit("3913001"), "", "1", "")) == "7"
    assert insurance_type(MemberId.of(with_check_digit("6713001"), "", "1", "")) == "2"


@given(
    st.one_of(st.none(), st.sampled_from(sorted(LIMIT_CATEGORIES))),
    st.one_of(st.none(), st.sampled_from(["01", "02", "03", "99"])),
    st.sampled_from([None, 10, 20, 30]),
    st.sampled_from(["active", "cancelled"]),
    st.sampled_from(["", "00", "07"]),
)
def test_round_trip(
    limit: str | None, loss: str | None, copay: int | None, status: str, branch: str
) -> None:
    original = facts(
        member=MemberId.of(INSURER, "あいう", "１８７", branch),
        limit=LimitApplication(limit) if limit else None,
        reason_of_loss=loss,
        copay_percent=copay,
        status=status,
    )
    resource = coverage_resource(original)
    assert coverage_issues(resource) == []
    assert coverage_facts(resource) == original


def test_facts_from_extensions_and_payor_only() -> None:
    resource = coverage_resource(facts())
    resource["identifier"] = []
    assert coverage_facts(resource).member == facts().member
    assert card_key(facts().member) == f"{INSURER}:12-34:5678"


def expressions(resource: dict[str, Any]) -> list[str]:
    return [e for issue in coverage_issues(resource) for e in issue.expression]


def test_bad_member_id_check_digit() -> None:
    resource = coverage_resource(facts())
    resource["identifier"][0]["value"] = "06139990:12-34:5678:01"
    assert expressions(resource) == ["Coverage.identifier[0].value"]
    with pytest.raises(CoverageError) as caught:
        coverage_facts(resource)
    assert "検証番号" in str(caught.value)
    assert "06139990" not in str(caught.value)


def test_extensions_must_agree_with_member_id() -> None:
    resource = coverage_resource(facts())
    number = next(i for i, e in enumerate(resource["extension"]) if e["url"] == NUMBER_EXTENSION)
    resource["extension"][number]["valueString"] = "9999"
    resource["dependent"] = "02"
    assert expressions(resource) == [
        f"Coverage.extension[{number}].valueString",
        "Coverage.dependent",
    ]


def test_payor_check_digit() -> None:
    resource = coverage_resource(facts())
    resource["payor"][0]["identifier"]["value"] = "06139991"
    assert expressions(resource) == ["Coverage.payor[0].identifier.value"]


def test_codes() -> None:
    resource = coverage_resource(facts(reason_of_loss="01"))
    limit = next(i for i, e in enumerate(resource["extension"]) if e["url"] == LIMIT_EXTENSION)
    loss = next(i for i, e in enumerate(resource["extension"]) if e["url"] == LOSS_EXTENSION)
    broken = copy.deepcopy(resource)
    broken["extension"][limit]["extension"][0]["valueCoding"]["code"] = "C01"
    broken["extension"][loss]["valueCoding"]["code"] = "05"
    broken["costToBeneficiary"][0]["valueQuantity"]["value"] = 130
    assert expressions(broken) == [
        "Coverage.costToBeneficiary[0].valueQuantity.value",
        f"Coverage.extension[{limit}].extension[0].valueCoding.code",
        f"Coverage.extension[{loss}].valueCoding.code",
    ]


def test_public_coverage() -> None:
    payer = with_check_digit("5413001")
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "status": "active",
        "type": {"coding": [{"system": INSURANCE_TYPE_SYSTEM, "code": "8"}]},
        "subscriberId": with_check_digit("123456"),
        "payor": [{"identifier": {"system": PUBLIC_PAYER_NUMBER_SYSTEM, "value": payer}}],
        "beneficiary": {"reference": "Patient/p1"},
    }
    assert coverage_issues(resource) == []
    resource["subscriberId"] = "1234567" if with_check_digit("123456") != "1234567" else "1234568"
    resource["payor"][0]["identifier"]["value"] = payer[:-1] + str((int(payer[-1]) + 1) % 10)
    assert expressions(resource) == [
        "Coverage.payor[0].identifier.value",
        "Coverage.subscriberId",
    ]


def test_other_resources_are_ignored() -> None:
    assert coverage_issues({"resourceType": "Patient"}) == []
