"""The eligibility decision (資格確認): request + candidate Coverages → 資格有効性 and reasons.

Pure. The candidates are every Coverage on the same card (保険者番号 + 記号 + 番号; all 枝番),
each with the birth date of its beneficiary. `decide` follows the national system's codes
(OQSCD006): 1 有効, 2 無効, 3 無効(新しい資格あり), 4 該当資格なし, 5 複数該当.

Order of the checks:
1. no Coverage on the card → 4 (unknown);
2. a 枝番 was given and no Coverage has it → 4 (wrong-branch);
3. a birth date was given and no remaining Coverage's beneficiary has it → 4
   (birthdate-mismatch);
4. the remaining Coverages in force on the date: one person → 1; several people (e.g. twins
   on a card checked without 枝番) → 5 (multiple);
5. none in force: the most recent one explains why (expired, not-yet-valid, lost, cancelled);
   if the same person has another Coverage in force on the date (`later`) → 3 (superseded,
   with that Coverage), else → 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum, StrEnum
from typing import Final

from tsunagu.identity.coverage import CoverageFacts, card_key
from tsunagu.identity.insurance import MemberId

VALIDITY_SYSTEM: Final = "http://tsunagu.jp/fhir/CodeSystem/qualification-validity"
REASON_SYSTEM: Final = "http://tsunagu.jp/fhir/CodeSystem/eligibility-reason"


class Validity(IntEnum):
    """資格有効性 (OQSCD006)."""

    VALID = 1
    INVALID = 2
    INVALID_NEWER_EXISTS = 3
    NOT_FOUND = 4
    MULTIPLE = 5

    @property
    def display(self) -> str:
        return _VALIDITY_DISPLAY[self]


_VALIDITY_DISPLAY: Final = {
    Validity.VALID: "有効",
    Validity.INVALID: "無効",
    Validity.INVALID_NEWER_EXISTS: "無効（新しい資格あり）",
    Validity.NOT_FOUND: "該当資格なし",
    Validity.MULTIPLE: "複数該当",
}


class Reason(StrEnum):
    """Why a check did not answer 有効 (codes of REASON_SYSTEM)."""

    UNKNOWN = "unknown"
    WRONG_BRANCH = "wrong-branch"
    BIRTHDATE_MISMATCH = "birthdate-mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    LOST = "lost"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    MULTIPLE = "multiple"

    @property
    def display(self) -> str:
        return _REASON_DISPLAY[self]


_REASON_DISPLAY: Final = {
    Reason.UNKNOWN: "該当する被保険者がいません / no insured person with these numbers",
    Reason.WRONG_BRANCH: "枝番が一致しません / the branch number does not match",
    Reason.BIRTHDATE_MISMATCH: "生年月日が一致しません / the birth date does not match",
    Reason.EXPIRED: "有効期限が切れています / the coverage has expired",
    Reason.NOT_YET_VALID: "資格の開始前です / the coverage has not started yet",
    Reason.LOST: "資格を喪失しています / the insured person has lost this coverage",
    Reason.CANCELLED: "資格は取り消されています / the coverage is not active",
    Reason.SUPERSEDED: "新しい資格があります / a newer coverage exists",
    Reason.MULTIPLE: "複数の資格が該当します / several insured persons match",
}


@dataclass(frozen=True)
class EligibilityRequest:
    """What the facility asks: the card numbers (枝番 and birth date optional) and the date."""

    insurer: str
    symbol: str
    number: str
    branch: str | None
    birth_date: date | None
    on: date

    @classmethod
    def of(cls, member: MemberId, birth_date: date | None, on: date) -> EligibilityRequest:
        return cls(
            member.insurer, member.symbol, member.number, member.branch or None, birth_date, on
        )

    @property
    def card(self) -> str:
        return card_key(MemberId(self.insurer, self.symbol, self.number, ""))


@dataclass(frozen=True)
class Candidate:
    """One stored Coverage (`reference` = `Coverage/{id}`) and its beneficiary's birth date."""

    reference: str
    facts: CoverageFacts
    birth_date: date | None = None

    @property
    def person(self) -> str:
        """Who it covers: the beneficiary, else the member identifier."""
        return self.facts.beneficiary or self.facts.member.key


@dataclass(frozen=True)
class EligibilityResult:
    validity: Validity
    reasons: tuple[Reason, ...] = ()
    # The Coverage the answer is about (the valid one, or the one that explains 2/3).
    coverage: Candidate | None = None
    # For 3: the Coverage now in force for the same person.
    newer: Candidate | None = None
    # For 5: every Coverage that matched.
    matches: tuple[Candidate, ...] = field(default=())


def in_force_reason(facts: CoverageFacts, on: date) -> Reason | None:
    """None when the Coverage is in force on `on`, else why not."""
    # A lost Coverage (喪失事由 + end) is `cancelled` yet was in force until its end.
    lost = facts.reason_of_loss is not None and facts.end is not None
    if facts.status != "active" and not (facts.status == "cancelled" and lost):
        return Reason.CANCELLED
    if facts.start is not None and on < facts.start:
        return Reason.NOT_YET_VALID
    if facts.end is not None and on > facts.end:
        return Reason.LOST if facts.reason_of_loss else Reason.EXPIRED
    if facts.reason_of_loss is not None and facts.end is None:
        return Reason.LOST
    return None


def decide(
    request: EligibilityRequest,
    candidates: Sequence[Candidate],
    later: Sequence[Candidate] = (),
) -> EligibilityResult:
    """The answer to one eligibility check (see the module docstring for the order)."""
    card = [c for c in candidates if card_key(c.facts.member) == request.card]
    if not card:
        return EligibilityResult(Validity.NOT_FOUND, (Reason.UNKNOWN,))
    pool = card
    if request.branch:
        pool = [c for c in card if c.facts.member.branch == request.branch]
        if not pool:
            return EligibilityResult(Validity.NOT_FOUND, (Reason.WRONG_BRANCH,))
    if request.birth_date is not None:
        pool = [c for c in pool if c.birth_date == request.birth_date]
        if not pool:
            return EligibilityResult(Validity.NOT_FOUND, (Reason.BIRTHDATE_MISMATCH,))
    valid = [c for c in pool if in_force_reason(c.facts, request.on) is None]
    people = {c.person for c in valid}
    if len(people) == 1:
        return EligibilityResult(Validity.VALID, (), _latest(valid))
    if len(people) > 1:
        return EligibilityResult(
            Validity.MULTIPLE, (Reason.MULTIPLE,), matches=tuple(sorted(valid, key=_order))
        )
    latest = _latest(pool)
    reason = in_force_reason(latest.facts, request.on)
    assert reason is not None
    newer = [
        c
        for c in later
        if c.person == latest.person
        and c.reference != latest.reference
        and in_force_reason(c.facts, request.on) is None
    ]
    if newer:
        return EligibilityResult(
            Validity.INVALID_NEWER_EXISTS, (reason, Reason.SUPERSEDED), latest, _latest(newer)
        )
    return EligibilityResult(Validity.INVALID, (reason,), latest)


def _order(candidate: Candidate) -> tuple[date, str]:
    return (candidate.facts.start or date.min, candidate.reference)


def _latest(candidates: Sequence[Candidate]) -> Candidate:
    """The Coverage that started last (ties: the highest reference, for a stable answer)."""
    return max(candidates, key=_order)
