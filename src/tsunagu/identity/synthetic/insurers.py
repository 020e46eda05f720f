"""Synthetic insurers (保険者) with valid check digits, and their Organization resources.

Numbers follow the real layouts (`identity.insurance`): 協会けんぽ `01` + prefecture + `001`
(as the real branches are numbered), 組合健保 `06`, 共済 `31`/`32`/`34`, 後期高齢者医療 `39`, and
6-digit 国民健康保険 numbers (prefecture + serial). Apart from 協会けんぽ the serials and names
are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from tsunagu.identity.insurance import INSURER_NUMBER_SYSTEM, with_check_digit
from tsunagu.identity.synthetic.places import Municipality, Prefecture

JP_ORGANIZATION: Final = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization"

# Invented names for 健康保険組合 and 共済組合 (numbered serials per prefecture).
SOCIETY_NAMES: Final = (
    "つなぐ商事",
    "あおば電機",
    "さくら精工",
    "みなと物流",
    "ひかり化学",
    "やまと食品",
    "はやぶさ運輸",
    "こだま情報",
    "わかば建設",
    "すばる製薬",
)
MUTUAL_KINDS: Final = (
    ("31", "国家公務員共済組合"),
    ("32", "地方職員共済組合"),
    ("34", "公立学校共済組合"),
)


@dataclass(frozen=True)
class Insurer:
    number: str  # 6 or 8 digits, check digit included
    name: str
    kind: str  # kyokai | society | mutual | kokuho | koki

    @property
    def id(self) -> str:
        return f"insurer-{self.number}"

    def organization(self) -> dict[str, Any]:
        return {
            "resourceType": "Organization",
            "id": self.id,
            "meta": {"profile": [JP_ORGANIZATION]},
            "identifier": [{"system": INSURER_NUMBER_SYSTEM, "value": self.number}],
            "active": True,
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                            "code": "pay",
                            "display": "Payer",
                        }
                    ]
                }
            ],
            "name": self.name,
        }


def kyokai(prefecture: Prefecture) -> Insurer:
    """全国健康保険協会 (協会けんぽ) branch of a prefecture."""
    branch = prefecture.name if prefecture.code == "01" else prefecture.name[:-1]
    return Insurer(
        with_check_digit(f"01{prefecture.code}001"), f"全国健康保険協会{branch}支部", "kyokai"
    )


def society(prefecture: Prefecture, serial: int) -> Insurer:
    name = SOCIETY_NAMES[serial % len(SOCIETY_NAMES)]
    number = with_check_digit(f"06{prefecture.code}{100 + serial:03d}")
    return Insurer(number, f"{name}健康保険組合", "society")


def mutual(prefecture: Prefecture, serial: int) -> Insurer:
    law, name = MUTUAL_KINDS[serial % len(MUTUAL_KINDS)]
    return Insurer(with_check_digit(f"{law}{prefecture.code}{200 + serial:03d}"), name, "mutual")


def kokuho(municipality: Municipality) -> Insurer:
    """市町村国保 of a municipality (6 digits)."""
    number = with_check_digit(f"{municipality.prefecture.code}{municipality.serial:03d}")
    return Insurer(number, f"{municipality.name}国民健康保険", "kokuho")


def koki(municipality: Municipality) -> Insurer:
    """後期高齢者医療広域連合, numbered per municipality (`39` + prefecture + serial)."""
    prefecture = municipality.prefecture
    number = with_check_digit(f"39{prefecture.code}{municipality.serial:03d}")
    return Insurer(number, f"{prefecture.name}後期高齢者医療広域連合", "koki")
