"""JP Core Coverage ↔ the insurance facts eligibility works with. Pure.

Representation (documented in docs/identity-eligibility.md):
- 被保険者個人識別子 (JP-CLINS) in `Coverage.identifier` (`MEMBER_ID_SYSTEM`); the card-level
  key `保険者番号:記号:番号` (no 枝番) in `Coverage.identifier` (`CARD_ID_SYSTEM`), so that a
  check can tell "wrong branch number" from "unknown" with one indexed lookup;
- 記号 / 番号 / 枝番 in the JP Core extensions (`JP_Coverage_InsuredPerson*`), 枝番 also in
  `Coverage.dependent`;
- 保険者 in `Coverage.payor[0]` as a logical reference: `identifier` (保険者番号) + `display`;
- 保険種別 in `Coverage.type` (JAMI 1.2.392.100495.20.2.61), 本人/家族 in
  `Coverage.relationship` (JAMI 1.2.392.100495.20.2.62: 1 被保険者, 2 被扶養者);
- 有効期間 in `Coverage.period` (start = 資格取得日, end = last valid day);
- 負担割合 as `Coverage.costToBeneficiary` type `copaypct`, valueQuantity in `%` (10/20/30);
- 限度額適用区分 as the Tsunagu extension `LIMIT_EXTENSION` (sub-extensions `classification`
  01–03, `category` A01–A06/B01–B10, `period`);
- 資格喪失事由 (ReasonOfLoss: 01 死亡, 02 生保開始, 03 他保険取得, 99 その他) as the Tsunagu
  extension `LOSS_EXTENSION` (valueCoding); a lost coverage also has `period.end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from tsunagu.fhir.outcomes import Issue
from tsunagu.identity.insurance import (
    INSURANCE_TYPE_SYSTEM,
    INSURANCE_TYPE_SYSTEM_URL,
    INSURED_CATEGORY_SYSTEM,
    INSURER_NUMBER_OID,
    INSURER_NUMBER_SYSTEM,
    MEMBER_ID_SYSTEM,
    NUMBER_EXTENSION,
    PUBLIC_PAYER_NUMBER_OID,
    PUBLIC_PAYER_NUMBER_SYSTEM,
    SUBNUMBER_EXTENSION,
    SYMBOL_EXTENSION,
    IdentifierError,
    MemberId,
    normalize_branch,
    normalize_number,
    normalize_symbol,
    parse_insurer_number,
    parse_member_id,
    parse_public_payer_number,
    parse_public_recipient_number,
)

TSUNAGU: Final = "http://tsunagu.jp/fhir"
#: Card-level key (被保険者証単位): `保険者番号(8):記号:番号`.
CARD_ID_SYSTEM: Final = f"{TSUNAGU}/Idsystem/insurance-card"
LIMIT_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/coverage-limit-application"
LIMIT_CLASSIFICATION_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/limit-application-classification"
LIMIT_CATEGORY_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/limit-application-category"
LOSS_EXTENSION: Final = f"{TSUNAGU}/StructureDefinition/coverage-reason-of-loss"
LOSS_SYSTEM: Final = f"{TSUNAGU}/CodeSystem/reason-of-loss"
COPAY_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
UCUM: Final = "http://unitsofmeasure.org"

#: 限度額適用区分 (OQS LimitApplicationCertificateRelatedInfo/ClassificationFlag).
LIMIT_CATEGORIES: Final[dict[str, str]] = {
    "A01": "区分ア",
    "A02": "区分イ",
    "A03": "区分ウ",
    "A04": "区分エ",
    "A05": "区分オ",
    "A06": "区分オ（境）",
    "B01": "現役並みⅢ",
    "B02": "現役並みⅡ",
    "B03": "現役並みⅠ",
    "B04": "一般",
    "B05": "低所得Ⅱ",
    "B06": "低所得Ⅰ",
    "B07": "低所得Ⅰ（老福）",
    "B08": "低所得Ⅰ（境）",
    "B09": "一般Ⅱ",
    "B10": "一般Ⅰ",
}
#: 限度額適用認定証の種類 (Classification).
LIMIT_CLASSIFICATIONS: Final[dict[str, str]] = {
    "01": "限度額適用認定証",
    "02": "限度額適用・標準負担額減額認定証",
    "03": "標準負担額減額認定証",
}
#: 資格喪失事由 (ReasonOfLoss).
LOSS_REASONS: Final[dict[str, str]] = {
    "01": "死亡",
    "02": "生保開始",
    "03": "他保険取得",
    "99": "その他",
}
#: 保険種別 (Coverage.type).
INSURANCE_TYPES: Final[dict[str, str]] = {
    "1": "医保",
    "2": "国保",
    "7": "後期高齢",
    "8": "公費",
}
#: 被保険者区分 (Coverage.relationship).
RELATIONSHIPS: Final[dict[str, str]] = {"1": "被保険者", "2": "被扶養者"}
#: 負担割合 (%) the national system uses.
COPAY_PERCENTS: Final = frozenset({0, 10, 20, 30})
STATUSES: Final = frozenset({"active", "cancelled", "draft", "entered-in-error"})


@dataclass(frozen=True)
class LimitApplication:
    """限度額適用: 区分 (A01–B10), 認定証の種類 (01–03) and validity."""

    category: str
    classification: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class CoverageFacts:
    """What eligibility needs to know about one insurance Coverage (always normalised)."""

    member: MemberId
    status: str = "active"
    start: date | None = None
    end: date | None = None
    beneficiary: str | None = None  # "Patient/{id}"
    relationship: str | None = None  # "1" 被保険者, "2" 被扶養者
    copay_percent: int | None = None
    limit: LimitApplication | None = None
    reason_of_loss: str | None = None
    insurer_name: str | None = None


def card_key(member: MemberId) -> str:
    """The card-level key `保険者番号(8):記号:番号` (CARD_ID_SYSTEM)."""
    return ":".join((member.insurer.rjust(8, "0"), member.symbol, member.number))


def insurance_type(member: MemberId) -> str:
    """保険種別: 2 国保 (6 digits, 法別 67), 7 後期高齢 (39), otherwise 1 医保."""
    insurer = parse_insurer_number(member.insurer)
    if insurer.law_code in (None, "67"):
        return "2"
    return "7" if insurer.law_code == "39" else "1"


def coverage_resource(facts: CoverageFacts) -> dict[str, Any]:
    """A JP Core Coverage for `facts` (without `id`)."""
    member = facts.member
    extensions: list[dict[str, Any]] = []
    if member.symbol:
        extensions.append({"url": SYMBOL_EXTENSION, "valueString": member.symbol})
    extensions.append({"url": NUMBER_EXTENSION, "valueString": member.number})
    if member.branch:
        extensions.append({"url": SUBNUMBER_EXTENSION, "valueString": member.branch})
    if facts.limit is not None:
        extensions.append(_limit_extension(facts.limit))
    if facts.reason_of_loss is not None:
        extensions.append(
            {
                "url": LOSS_EXTENSION,
                "valueCoding": {
                    "system": LOSS_SYSTEM,
                    "code": facts.reason_of_loss,
                    "display": LOSS_REASONS[facts.reason_of_loss],
                },
            }
        )
    kind = insurance_type(member)
    payor: dict[str, Any] = {
        "type": "Organization",
        "identifier": {"system": INSURER_NUMBER_SYSTEM, "value": member.insurer.rjust(8, "0")},
    }
    if facts.insurer_name:
        payor["display"] = facts.insurer_name
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "extension": extensions,
        "identifier": [
            member.identifier(),
            {"system": CARD_ID_SYSTEM, "value": card_key(member)},
        ],
        "status": facts.status,
        "type": {
            "coding": [
                {"system": INSURANCE_TYPE_SYSTEM, "code": kind, "display": INSURANCE_TYPES[kind]}
            ]
        },
        "beneficiary": {"reference": facts.beneficiary} if facts.beneficiary else {},
        "payor": [payor],
    }
    if member.branch:
        resource["dependent"] = member.branch
    if facts.relationship:
        resource["relationship"] = {
            "coding": [
                {
                    "system": INSURED_CATEGORY_SYSTEM,
                    "code": facts.relationship,
                    "display": RELATIONSHIPS[facts.relationship],
                }
            ]
        }
    period = _period(facts.start, facts.end)
    if period:
        resource["period"] = period
    if facts.copay_percent is not None:
        resource["costToBeneficiary"] = [
            {
                "type": {
                    "coding": [
                        {"system": COPAY_TYPE_SYSTEM, "code": "copaypct", "display": "負担率"}
                    ]
                },
                "valueQuantity": {
                    "value": facts.copay_percent,
                    "unit": "%",
                    "system": UCUM,
                    "code": "%",
                },
            }
        ]
    if not resource["beneficiary"]:
        del resource["beneficiary"]
    return resource


def _limit_extension(limit: LimitApplication) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {
            "url": "category",
            "valueCoding": {
                "system": LIMIT_CATEGORY_SYSTEM,
                "code": limit.category,
                "display": LIMIT_CATEGORIES[limit.category],
            },
        }
    ]
    if limit.classification:
        parts.append(
            {
                "url": "classification",
                "valueCoding": {
                    "system": LIMIT_CLASSIFICATION_SYSTEM,
                    "code": limit.classification,
                    "display": LIMIT_CLASSIFICATIONS[limit.classification],
                },
            }
        )
    period = _period(limit.start, limit.end)
    if period:
        parts.append({"url": "period", "valuePeriod": period})
    return {"url": LIMIT_EXTENSION, "extension": parts}


def _period(start: date | None, end: date | None) -> dict[str, str]:
    period = {}
    if start is not None:
        period["start"] = start.isoformat()
    if end is not None:
        period["end"] = end.isoformat()
    return period


# --- reading a Coverage --------------------------------------------------------------------------


class CoverageError(ValueError):
    """A Coverage that cannot be read as insurance facts; `issues` say where."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def coverage_facts(resource: dict[str, Any], *, check: bool = True) -> CoverageFacts:
    """The insurance facts of a JP Core Coverage (raises CoverageError when it has errors).

    `check=False` skips `coverage_issues` (for stored Coverages, checked when written): the
    member identifier is still parsed and validated."""
    issues = [i for i in coverage_issues(resource) if i.severity == "error"] if check else []
    member = _member(resource)
    if issues or member is None:
        raise CoverageError(
            issues
            or [
                Issue(
                    "required",
                    "被保険者個人識別子がありません / the Coverage has no member identifier",
                    expression=("Coverage.identifier",),
                )
            ]
        )
    period = resource.get("period") or {}
    beneficiary = (resource.get("beneficiary") or {}).get("reference")
    payor = (resource.get("payor") or [{}])[0]
    return CoverageFacts(
        member=member,
        status=str(resource.get("status", "active")),
        start=_date(period.get("start")),
        end=_date(period.get("end")),
        beneficiary=beneficiary if isinstance(beneficiary, str) else None,
        relationship=_code(resource.get("relationship"), INSURED_CATEGORY_SYSTEM),
        copay_percent=_copay(resource),
        limit=_limit(resource),
        reason_of_loss=_loss(resource),
        insurer_name=payor.get("display") if isinstance(payor, dict) else None,
    )


def _member(resource: dict[str, Any]) -> MemberId | None:
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == MEMBER_ID_SYSTEM:
            try:
                return parse_member_id(str(identifier.get("value", "")))
            except IdentifierError:
                return None
    parts = {url: value for url, value, _ in _string_extensions(resource)}
    if NUMBER_EXTENSION in parts and _payor_insurer(resource) is not None:
        try:
            return MemberId.of(
                str(_payor_insurer(resource)),
                parts.get(SYMBOL_EXTENSION, ""),
                parts[NUMBER_EXTENSION],
                parts.get(SUBNUMBER_EXTENSION, resource.get("dependent", "")),
            )
        except IdentifierError:
            return None
    return None


def _payor_insurer(resource: dict[str, Any]) -> str | None:
    for payor in resource.get("payor") or []:
        identifier = payor.get("identifier") if isinstance(payor, dict) else None
        if isinstance(identifier, dict) and identifier.get("system") in (
            INSURER_NUMBER_SYSTEM,
            INSURER_NUMBER_OID,
        ):
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def _string_extensions(resource: dict[str, Any]) -> list[tuple[str, str, int]]:
    found = []
    for index, extension in enumerate(resource.get("extension") or []):
        if isinstance(extension, dict) and isinstance(extension.get("valueString"), str):
            found.append((str(extension.get("url")), extension["valueString"], index))
    return found


def _date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _code(concept: object, *systems: str) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (not systems or coding.get("system") in systems):
            code = coding.get("code")
            return code if isinstance(code, str) else None
    return None


def _copay(resource: dict[str, Any]) -> int | None:
    for cost in resource.get("costToBeneficiary") or []:
        if isinstance(cost, dict) and _code(cost.get("type"), COPAY_TYPE_SYSTEM) == "copaypct":
            value = (cost.get("valueQuantity") or {}).get("value")
            if isinstance(value, int | float):
                return int(value)
    return None


def _limit(resource: dict[str, Any]) -> LimitApplication | None:
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == LIMIT_EXTENSION:
            parts = {
                p.get("url"): p for p in extension.get("extension") or [] if isinstance(p, dict)
            }
            category = (parts.get("category") or {}).get("valueCoding", {}).get("code")
            if not isinstance(category, str):
                return None
            classification = (parts.get("classification") or {}).get("valueCoding", {}).get("code")
            period = (parts.get("period") or {}).get("valuePeriod") or {}
            return LimitApplication(
                category,
                classification if isinstance(classification, str) else None,
                _date(period.get("start")),
                _date(period.get("end")),
            )
    return None


def _loss(resource: dict[str, Any]) -> str | None:
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == LOSS_EXTENSION:
            code = (extension.get("valueCoding") or {}).get("code")
            return code if isinstance(code, str) else None
    return None


# --- validation (hooked into the write path by the validation layer) -----------------------------


def coverage_issues(resource: dict[str, Any]) -> list[Issue]:
    """Every problem with the Japanese insurance content of a Coverage, each with the FHIRPath
    of the offending element: check digits of 保険者番号 / 公費負担者番号 / 受給者番号, the
    JP-CLINS member identifier's format, agreement between that identifier and the
    記号・番号・枝番 extensions, `dependent`, 負担割合, 限度額適用区分 and 喪失事由 codes.
    Messages never repeat the values (they may be personal)."""
    if resource.get("resourceType") != "Coverage":
        return []
    issues: list[Issue] = []
    member: MemberId | None = None
    for index, identifier in enumerate(resource.get("identifier") or []):
        if not isinstance(identifier, dict) or identifier.get("system") != MEMBER_ID_SYSTEM:
            continue
        where = f"Coverage.identifier[{index}].value"
        try:
            member = parse_member_id(str(identifier.get("value", "")))
        except IdentifierError as error:
            issues.append(Issue("value", error.message, expression=(where,)))
    parts = {url: (value, index) for url, value, index in _string_extensions(resource)}
    is_public = _code(resource.get("type"), INSURANCE_TYPE_SYSTEM, INSURANCE_TYPE_SYSTEM_URL) == "8"
    if is_public:
        issues.extend(_public_issues(resource))
    else:
        issues.extend(_payor_issues(resource, member))
    for url, check, name in (
        (SYMBOL_EXTENSION, "symbol", "被保険者記号"),
        (NUMBER_EXTENSION, "number", "被保険者番号"),
        (SUBNUMBER_EXTENSION, "branch", "枝番"),
    ):
        if url not in parts:
            continue
        value, index = parts[url]
        where = f"Coverage.extension[{index}].valueString"
        try:
            normalised = _normalise(check, value)
        except IdentifierError as error:
            issues.append(Issue("value", error.message, expression=(where,)))
            continue
        if member is not None and normalised != getattr(member, check):
            issues.append(
                Issue(
                    "value",
                    f"{name}が被保険者個人識別子と一致しません / "
                    f"the {check} extension does not agree with the member identifier",
                    expression=(where,),
                )
            )
    dependent = resource.get("dependent")
    if isinstance(dependent, str):
        try:
            branch = normalize_branch(dependent)
            if member is not None and member.branch and branch != member.branch:
                issues.append(
                    Issue(
                        "value",
                        "dependent (枝番) が被保険者個人識別子と一致しません / "
                        "dependent does not agree with the member identifier's branch",
                        expression=("Coverage.dependent",),
                    )
                )
        except IdentifierError as error:
            issues.append(Issue("value", error.message, expression=("Coverage.dependent",)))
    issues.extend(_code_issues(resource))
    return issues


def _normalise(check: str, value: str) -> str:
    if check == "symbol":
        return normalize_symbol(value)
    if check == "number":
        return normalize_number(value)
    return normalize_branch(value)


def _payor_issues(resource: dict[str, Any], member: MemberId | None) -> list[Issue]:
    issues = []
    for index, payor in enumerate(resource.get("payor") or []):
        identifier = payor.get("identifier") if isinstance(payor, dict) else None
        if not isinstance(identifier, dict) or identifier.get("system") not in (
            INSURER_NUMBER_SYSTEM,
            INSURER_NUMBER_OID,
        ):
            continue
        where = f"Coverage.payor[{index}].identifier.value"
        try:
            insurer = parse_insurer_number(str(identifier.get("value", "")))
        except IdentifierError as error:
            issues.append(Issue("value", error.message, expression=(where,)))
            continue
        if member is not None and insurer.value != member.insurer:
            issues.append(
                Issue(
                    "value",
                    "支払者の保険者番号が被保険者個人識別子と一致しません / "
                    "the payor's insurer number does not agree with the member identifier",
                    expression=(where,),
                )
            )
    return issues


def _public_issues(resource: dict[str, Any]) -> list[Issue]:
    issues = []
    for index, payor in enumerate(resource.get("payor") or []):
        identifier = payor.get("identifier") if isinstance(payor, dict) else None
        if isinstance(identifier, dict) and identifier.get("system") in (
            PUBLIC_PAYER_NUMBER_SYSTEM,
            PUBLIC_PAYER_NUMBER_OID,
        ):
            try:
                parse_public_payer_number(str(identifier.get("value", "")))
            except IdentifierError as error:
                where = f"Coverage.payor[{index}].identifier.value"
                issues.append(Issue("value", error.message, expression=(where,)))
    subscriber_id = resource.get("subscriberId")
    if isinstance(subscriber_id, str):
        try:
            parse_public_recipient_number(subscriber_id)
        except IdentifierError as error:
            issues.append(Issue("value", error.message, expression=("Coverage.subscriberId",)))
    return issues


def _code_issues(resource: dict[str, Any]) -> list[Issue]:
    issues = []
    for index, cost in enumerate(resource.get("costToBeneficiary") or []):
        if not isinstance(cost, dict) or _code(cost.get("type"), COPAY_TYPE_SYSTEM) != "copaypct":
            continue
        value = (cost.get("valueQuantity") or {}).get("value")
        if not isinstance(value, int | float) or not 0 <= value <= 100:
            issues.append(
                Issue(
                    "value",
                    "負担割合は 0〜100 (%) の数値です / the copay percentage must be 0-100",
                    expression=(f"Coverage.costToBeneficiary[{index}].valueQuantity.value",),
                )
            )
    for index, extension in enumerate(resource.get("extension") or []):
        if not isinstance(extension, dict):
            continue
        url = extension.get("url")
        if url == LIMIT_EXTENSION:
            for sub, part in enumerate(extension.get("extension") or []):
                if not isinstance(part, dict):
                    continue
                table = {"category": LIMIT_CATEGORIES, "classification": LIMIT_CLASSIFICATIONS}
                codes = table.get(str(part.get("url")))
                code = (part.get("valueCoding") or {}).get("code")
                if codes is not None and code not in codes:
                    issues.append(
                        Issue(
                            "code-invalid",
                            "限度額適用区分のコードが不正です / unknown limit application code",
                            expression=(
                                f"Coverage.extension[{index}].extension[{sub}].valueCoding.code",
                            ),
                        )
                    )
        elif url == LOSS_EXTENSION:
            code = (extension.get("valueCoding") or {}).get("code")
            if code not in LOSS_REASONS:
                issues.append(
                    Issue(
                        "code-invalid",
                        "資格喪失事由のコードが不正です / unknown reason-of-loss code",
                        expression=(f"Coverage.extension[{index}].valueCoding.code",),
                    )
                )
    return issues
