"""The authenticated caller of one request, as the access token describes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """The professions and parties the platform knows (token claim `role`)."""

    PHYSICIAN = "physician"
    DENTIST = "dentist"
    PHARMACIST = "pharmacist"
    NURSE = "nurse"
    EMERGENCY = "emergency"  # 救急隊 (emergency medical team)
    MUNICIPAL = "municipal"  # 自治体職員 (municipal officer)
    RESEARCHER = "researcher"
    ADMINISTRATOR = "administrator"
    PATIENT = "patient"  # the patient, with a patient credential (My Number card's role)
    SYSTEM = "system"  # a facility system with no user (SMART Backend Services)


@dataclass(frozen=True)
class Principal:
    """Who is asking.

    `facility` is the 医療機関コード (10 digits) or 薬局コード of the client; `patient` is the
    Patient id a patient token (or a patient-context launch) is bound to; `scopes` are the
    SMART v2 scope strings granted in the token, unparsed.
    """

    subject: str  # the client id, user id or patient id that authenticated
    role: Role
    client_id: str
    facility: str | None = None
    patient: str | None = None
    scopes: tuple[str, ...] = ()
    token_id: str = ""  # the token's `jti`, for audit
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
