"""Access tokens for tests, minted in-process with a platform's real signing key.

`TokenFactory(platform).headers(Role.PHYSICIAN)` gives the Authorization header a server on
`platform` (TestClient base http://testserver/fhir) accepts. `mint(platform, ...)` is the
same as a plain function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tsunagu.bootstrap import Platform
from tsunagu.security.principal import Role
from tsunagu.security.tokens import Grant

TEST_BASE = "http://testserver/fhir"
DEFAULT_FACILITY = "1318814790"  # 東京都, 医科, 88-1479 (valid check digit)


def default_scopes(role: Role) -> str:
    if role is Role.PATIENT:
        return "patient/*.rs"
    if role is Role.SYSTEM:
        return "system/*.cruds"
    return "user/*.cruds"


def mint(
    platform: Platform,
    role: Role | str,
    facility: str | None = DEFAULT_FACILITY,
    patient: str | None = None,
    scopes: str | None = None,
    *,
    subject: str | None = None,
    client_id: str = "test-client",
    minutes: float = 30,
    audience: str = TEST_BASE,
) -> str:
    """A token for `role` signed with `platform`'s current key."""
    role = Role(role)
    grant = Grant(
        subject=subject or (patient if role is Role.PATIENT and patient else f"test-{role}"),
        role=role,
        client_id=client_id,
        facility=facility,
        patient=patient,
        scopes=tuple((default_scopes(role) if scopes is None else scopes).split()),
        lifetime=timedelta(minutes=minutes),
    )
    return platform.mint_token(grant, audience)


@dataclass
class TokenFactory:
    """What the `auth` fixture gives: tokens and headers for one platform."""

    platform: Platform

    def token(
        self,
        role: Role | str,
        facility: str | None = DEFAULT_FACILITY,
        patient: str | None = None,
        scopes: str | None = None,
        **more: object,
    ) -> str:
        return mint(self.platform, role, facility, patient, scopes, **more)  # type: ignore[arg-type]

    def headers(
        self,
        role: Role | str,
        facility: str | None = DEFAULT_FACILITY,
        patient: str | None = None,
        scopes: str | None = None,
        **more: object,
    ) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, facility, patient, scopes, **more)}"}
