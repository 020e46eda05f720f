"""The eligibility decision: 資格有効性 codes and reasons."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.coverage import CoverageFacts
from tsunagu.identity.eligibility import (
    Candidate,
    EligibilityRequest,
    Reason,
    Validity,
    decide,
    in_force_reason,
)
from tsunagu.identity.insurance import MemberId, with_check_digit

INSURER = with_check_digit("0113001")
OTHER_INSURER = with_check_digit("0627001")
TODAY = date(2025, 6, 1)
BORN = date(1980, 5, 17)


def candidate(
    ref: str,
    branch: str = "00",
    *,
    born: date = BORN,
    insurer: str = INSURER,
    person: str = "Patient/a",
    **changes: Any,
) -> Candidate:
    facts = CoverageFacts(
        member=MemberId.of(insurer, "12", "345", branch),
        start=date(2020, 4, 1),
        beneficiary=person,
    )
    return Candidate(ref, CoverageFacts(**{**facts.__dict__, **changes}), born)


def ask(branch: str | None = "00", born: date | None = BORN) -> EligibilityRequest:
    return EligibilityRequest(INSURER, "12", "345", branch, born, TODAY)


def test_valid() -> None:
    result = decide(ask(), [candidate("Coverage/1")])
    assert result.validity == Validity.VALID
    assert result.validity.display == "有効"
    assert result.coverage is not None
    assert result.coverage.reference == "Coverage/1"
    assert result.reasons == ()


def test_unknown_and_other_cards() -> None:
    result = decide(ask(), [candidate("Coverage/1", insurer=OTHER_INSURER)])
    assert result.validity == Validity.NOT_FOUND
    assert result.reasons == (Reason.UNKNOWN,)
    assert decide(ask(), []).validity == Validity.NOT_FOUND


def test_wrong_branch() -> None:
    result = decide(ask("03"), [candidate("Coverage/1", "00"), candidate("Coverage/2", "01")])
    assert (result.validity, result.reasons) == (Validity.NOT_FOUND, (Reason.WRONG_BRANCH,))


def test_birthdate_mismatch() -> None:
    result = decide(ask(born=date(1980, 5, 18)), [candidate("Coverage/1")])
    assert (result.validity, result.reasons) == (Validity.NOT_FOUND, (Reason.BIRTHDATE_MISMATCH,))


def test_without_branch_the_birthdate_picks_the_family_member() -> None:
    family = [
        candidate("Coverage/1", "00", person="Patient/a"),
        candidate("Coverage/2", "01", born=date(2010, 1, 2), person="Patient/b"),
    ]
    result = decide(ask(None, date(2010, 1, 2)), family)
    assert result.validity == Validity.VALID
    assert result.coverage is not None
    assert result.coverage.reference == "Coverage/2"


def test_twins_without_branch_are_multiple() -> None:
    twins = [
        candidate("Coverage/1", "01", person="Patient/a"),
        candidate("Coverage/2", "02", person="Patient/b"),
    ]
    result = decide(ask(None), twins)
    assert (result.validity, result.reasons) == (Validity.MULTIPLE, (Reason.MULTIPLE,))
    assert [m.reference for m in result.matches] == ["Coverage/1", "Coverage/2"]
    assert decide(ask("02"), twins).validity == Validity.VALID


def test_expired_lost_not_yet_cancelled() -> None:
    cases: dict[Reason, dict[str, Any]] = {
        Reason.EXPIRED: {"end": date(2025, 3, 31)},
        Reason.LOST: {"end": date(2025, 3, 31), "reason_of_loss": "03"},
        Reason.NOT_YET_VALID: {"start": date(2025, 7, 1)},
        Reason.CANCELLED: {"status": "cancelled"},
    }
    for reason, changes in cases.items():
        result = decide(ask(), [candidate("Coverage/1", **changes)])
        assert (result.validity, result.reasons) == (Validity.INVALID, (reason,)), reason
    lost_open = decide(ask(), [candidate("Coverage/1", reason_of_loss="01")])
    assert lost_open.reasons == (Reason.LOST,)


def test_newer_coverage_exists() -> None:
    old = candidate("Coverage/1", end=date(2025, 3, 31), reason_of_loss="03")
    new = candidate("Coverage/9", insurer=OTHER_INSURER, start=date(2025, 4, 1))
    someone_else = candidate("Coverage/8", insurer=OTHER_INSURER, person="Patient/z")
    result = decide(ask(), [old], later=[old, someone_else, new])
    assert result.validity == Validity.INVALID_NEWER_EXISTS
    assert result.reasons == (Reason.LOST, Reason.SUPERSEDED)
    assert result.newer is not None
    assert result.newer.reference == "Coverage/9"
    assert decide(ask(), [old], later=[someone_else]).validity == Validity.INVALID


def test_reissued_card_on_same_numbers_uses_the_one_in_force() -> None:
    old = candidate("Coverage/1", start=date(2018, 4, 1), end=date(2020, 3, 31))
    current = candidate("Coverage/2", start=date(2020, 4, 1))
    result = decide(ask(), [old, current])
    assert result.validity == Validity.VALID
    assert result.coverage is not None
    assert result.coverage.reference == "Coverage/2"


@given(
    st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    st.dates(date(2000, 1, 1), date(2030, 12, 31)),
)
def test_in_force_exactly_inside_the_period(start: date, end: date, on: date) -> None:
    facts = candidate("Coverage/1", start=start, end=end).facts
    inside = start <= on <= end
    assert (in_force_reason(facts, on) is None) == inside
    result = decide(
        EligibilityRequest(INSURER, "12", "345", "00", BORN, on),
        [candidate("Coverage/1", start=start, end=end)],
    )
    assert (result.validity == Validity.VALID) == inside
