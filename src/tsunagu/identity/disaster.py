"""Disaster mode (災害時モード): declarations, the areas they cover and what they open. Pure.

A declaration names prefectures (都道府県番号, JIS X 0401, 2 digits) and/or municipalities
(全国地方公共団体コード, JIS X 0402: 5 digits, or 6 with its check digit), a period
[start, end) (empty when end = start: ended before it began) and the information
categories it opens. It is active only inside its period, so
it ends by itself; ending it early sets `end` to the moment it was ended.

A facility (its 10-digit 医療機関コード / 薬局コード, whose first 2 digits are the
都道府県番号) is covered when its prefecture is declared, or is the prefecture of a declared
municipality (the facility code does not tell the municipality; evacuees move to facilities
across the prefecture), or it is listed as a serving facility (e.g. a DMAT base hospital in
another prefecture).

Categories opened by default: prescriptions and diagnoses — what the national 災害時医療情報
閲覧 shows (薬剤情報・診療情報) — plus allergies and contraindications (薬剤禁忌), because a
doctor who prescribes for an evacuee without a card needs them to avoid harm; labs, infections
and documents stay closed (not needed for emergency prescribing; more sensitive).

FHIR representation: a `Basic` resource (see `declaration_resource`). Not a `Flag`: a Flag
is a warning about one subject (1..1) and a declaration is a platform-wide administrative act
with areas and a period; `Basic` is R4's resource for such concepts and is versioned and
audited like any other resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tsunagu.fhir.datatypes import JAPAN
from tsunagu.fhir.outcomes import Issue
from tsunagu.identity.insurance import FACILITY_CODE_SYSTEM

TSUNAGU: Final = "http://tsunagu.jp/fhir"
KIND_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/resource-kind"
DECLARATION_CODE: Final = "disaster-declaration"
PERIOD_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/disaster-period"
AREA_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/disaster-area"
SERVING_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/disaster-serving-facility"
CATEGORY_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/disaster-category"
NAME_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/disaster-name"
CATEGORY_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/information-category"
PREFECTURE_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/PrefectureNo-2digits"
MUNICIPALITY_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/jis-x0402"

#: Categories a declaration opens when it names none (values of security.categories.Category).
DEFAULT_CATEGORIES: Final = frozenset(
    {"prescriptions", "diagnoses", "allergies", "contraindications"}
)
#: Categories a declaration may open at most.
ALLOWED_CATEGORIES: Final = DEFAULT_CATEGORIES

PREFECTURES: Final[dict[str, str]] = {
    f"{n:02d}": name
    for n, name in enumerate(
        [
            "北海道",
            "青森県",
            "岩手県",
            "宮城県",
            "秋田県",
            "山形県",
            "福島県",
            "茨城県",
            "栃木県",
            "群馬県",
            "埼玉県",
            "千葉県",
            "東京都",
            "神奈川県",
            "新潟県",
            "富山県",
            "石川県",
            "福井県",
            "山梨県",
            "長野県",
            "岐阜県",
            "静岡県",
            "愛知県",
            "三重県",
            "滋賀県",
            "京都府",
            "大阪府",
            "兵庫県",
            "奈良県",
            "和歌山県",
            "鳥取県",
            "島根県",
            "岡山県",
            "広島県",
            "山口県",
            "徳島県",
            "香川県",
            "愛媛県",
            "高知県",
            "福岡県",
            "佐賀県",
            "長崎県",
            "熊本県",
            "大分県",
            "宮崎県",
            "鹿児島県",
            "沖縄県",
        ],
        start=1,
    )
}


class DeclarationError(ValueError):
    """A declaration that breaks a rule; `issues` carry FHIRPath expressions."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def municipality_check_digit(code: str) -> int:
    """The JIS X 0402 check digit of a 5-digit code: weights 6,5,4,3,2; 11 minus the sum mod
    11, last digit (011002 札幌市, 131016 千代田区)."""
    total = sum(int(d) * w for d, w in zip(code, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def parse_prefecture(code: str) -> str:
    """A 都道府県番号 01–47 (raises ValueError)."""
    if code not in PREFECTURES:
        raise ValueError("都道府県番号は 01〜47 です / a prefecture number is 01-47")
    return code


def parse_municipality(code: str) -> str:
    """A 全国地方公共団体コード: 5 digits, or 6 with a valid check digit; returns 5 digits."""
    if not re.fullmatch(r"[0-9]{5,6}", code) or code[:2] not in PREFECTURES:
        raise ValueError(
            "市区町村コードは JIS X 0402 の 5 桁 (または検査数字付き 6 桁) です / "
            "a municipality code is 5 digits (or 6 with its check digit), JIS X 0402"
        )
    if len(code) == 6 and municipality_check_digit(code[:5]) != int(code[5]):
        raise ValueError(
            "市区町村コードの検査数字が正しくありません / "
            "the municipality code's check digit is wrong"
        )
    return code[:5]


def facility_prefecture(facility: str) -> str | None:
    """The prefecture of a 10-digit 医療機関コード / 薬局コード (None when it is not one)."""
    if not re.fullmatch(r"[0-9]{10}", facility) or facility[:2] not in PREFECTURES:
        return None
    return facility[:2]


@dataclass(frozen=True)
class Declaration:
    """One disaster declaration; active in [start, end)."""

    name: str
    start: datetime
    end: datetime
    prefectures: frozenset[str] = frozenset()
    municipalities: frozenset[str] = frozenset()
    serving_facilities: frozenset[str] = frozenset()
    categories: frozenset[str] = field(default=DEFAULT_CATEGORIES)
    id: str | None = None

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end

    @property
    def area_prefectures(self) -> frozenset[str]:
        return self.prefectures | {m[:2] for m in self.municipalities}

    def covers(self, facility: str, at: datetime) -> bool:
        """Whether `facility` may use disaster mode under this declaration at `at`."""
        if not self.active(at):
            return False
        if facility in self.serving_facilities:
            return True
        return facility_prefecture(facility) in self.area_prefectures


def open_categories(
    declarations: Iterable[Declaration], facility: str, at: datetime
) -> frozenset[str]:
    """The categories any declaration covering `facility` at `at` opens (empty: none does)."""
    opened: set[str] = set()
    for declaration in declarations:
        if declaration.covers(facility, at):
            opened |= declaration.categories
    return frozenset(opened)


def covering(declarations: Iterable[Declaration], facility: str, at: datetime) -> list[Declaration]:
    """The declarations that cover `facility` at `at` (for the audit's purpose of use)."""
    return [d for d in declarations if d.covers(facility, at)]


# --- FHIR (Basic) --------------------------------------------------------------------------------


def declaration_resource(declaration: Declaration) -> dict[str, Any]:
    """The `Basic` resource for a declaration (without `id`)."""
    extensions: list[dict[str, Any]] = [
        {"url": NAME_EXTENSION, "valueString": declaration.name},
        {
            "url": PERIOD_EXTENSION,
            "valuePeriod": {
                "start": declaration.start.isoformat(),
                "end": declaration.end.isoformat(),
            },
        },
    ]
    for code in sorted(declaration.prefectures):
        coding = {"system": PREFECTURE_SYSTEM, "code": code, "display": PREFECTURES[code]}
        extensions.append({"url": AREA_EXTENSION, "valueCodeableConcept": {"coding": [coding]}})
    for code in sorted(declaration.municipalities):
        coding = {"system": MUNICIPALITY_SYSTEM, "code": code}
        extensions.append({"url": AREA_EXTENSION, "valueCodeableConcept": {"coding": [coding]}})
    for facility in sorted(declaration.serving_facilities):
        identifier = {"system": FACILITY_CODE_SYSTEM, "value": facility}
        extensions.append({"url": SERVING_EXTENSION, "valueIdentifier": identifier})
    for category in sorted(declaration.categories):
        coding = {"system": CATEGORY_SYSTEM, "code": category}
        extensions.append({"url": CATEGORY_EXTENSION, "valueCoding": coding})
    return {
        "resourceType": "Basic",
        "code": {
            "coding": [
                {"system": KIND_SYSTEM, "code": DECLARATION_CODE, "display": "災害時モード宣言"}
            ]
        },
        "created": declaration.start.astimezone(JAPAN).date().isoformat(),  # the day in Japan
        "extension": extensions,
    }


def is_declaration(resource: dict[str, Any]) -> bool:
    if resource.get("resourceType") != "Basic":
        return False
    codings = (resource.get("code") or {}).get("coding") or []
    return any(
        isinstance(c, dict) and c.get("system") == KIND_SYSTEM and c.get("code") == DECLARATION_CODE
        for c in codings
    )


def declaration_from_resource(resource: dict[str, Any]) -> Declaration:
    """Read a declaration `Basic` (raises DeclarationError listing every problem)."""
    issues: list[Issue] = []
    name = ""
    start: datetime | None = None
    end: datetime | None = None
    prefectures: set[str] = set()
    municipalities: set[str] = set()
    serving: set[str] = set()
    categories: set[str] = set()
    period_seen = False
    for index, extension in enumerate(resource.get("extension") or []):
        if not isinstance(extension, dict):
            continue
        url = extension.get("url")
        where = f"Basic.extension[{index}]"
        if url == NAME_EXTENSION:
            name = str(extension.get("valueString", ""))
        elif url == PERIOD_EXTENSION:
            period_seen = True
            period = extension.get("valuePeriod") or {}
            start = _instant(period.get("start"))
            end = _instant(period.get("end"))
            if start is None or end is None:
                issues.append(
                    _issue(
                        "期間の開始と終了 (タイムゾーン付き日時) が必要です / "
                        "the period needs a start and an end (date-times with a time zone)",
                        f"{where}.valuePeriod",
                    )
                )
        elif url == AREA_EXTENSION:
            codings = (extension.get("valueCodeableConcept") or {}).get("coding") or [{}]
            coding = codings[0] if isinstance(codings[0], dict) else {}
            system, code = coding.get("system"), str(coding.get("code", ""))
            try:
                if system == PREFECTURE_SYSTEM:
                    prefectures.add(parse_prefecture(code))
                elif system == MUNICIPALITY_SYSTEM:
                    municipalities.add(parse_municipality(code))
                else:
                    raise ValueError(
                        "地域は都道府県番号か市区町村コードで指定します / "
                        "an area is a prefecture number or a municipality code"
                    )
            except ValueError as error:
                issues.append(_issue(str(error), f"{where}.valueCodeableConcept.coding[0]"))
        elif url == SERVING_EXTENSION:
            value = str((extension.get("valueIdentifier") or {}).get("value", ""))
            if facility_prefecture(value) is None:
                issues.append(
                    _issue(
                        "医療機関コードは 10 桁です / a facility code is 10 digits",
                        f"{where}.valueIdentifier.value",
                    )
                )
            serving.add(value)
        elif url == CATEGORY_EXTENSION:
            code = str((extension.get("valueCoding") or {}).get("code", ""))
            if code not in ALLOWED_CATEGORIES:
                issues.append(
                    _issue(
                        "災害時に開示できる情報区分は "
                        f"{', '.join(sorted(ALLOWED_CATEGORIES))} です / "
                        "a disaster may open only these categories: "
                        f"{', '.join(sorted(ALLOWED_CATEGORIES))}",
                        f"{where}.valueCoding.code",
                    )
                )
            categories.add(code)
    if not period_seen:
        issues.append(_issue("期間がありません / the declaration has no period", "Basic.extension"))
    if start is not None and end is not None and end < start:
        issues.append(
            _issue("終了が開始より前です / the end is before the start", "Basic.extension")
        )
    if not prefectures and not municipalities:
        issues.append(
            _issue(
                "対象地域 (都道府県または市区町村) がありません / the declaration names no area",
                "Basic.extension",
            )
        )
    if issues or start is None or end is None:
        raise DeclarationError(issues)
    return Declaration(
        name=name,
        start=start,
        end=end,
        prefectures=frozenset(prefectures),
        municipalities=frozenset(municipalities),
        serving_facilities=frozenset(serving),
        categories=frozenset(categories) or DEFAULT_CATEGORIES,
        id=resource.get("id") if isinstance(resource.get("id"), str) else None,
    )


def _issue(message: str, expression: str) -> Issue:
    return Issue("value", message, expression=(expression,))


def _instant(value: object) -> datetime | None:
    """A date-time with a time zone (a disaster starts and ends at an instant)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
