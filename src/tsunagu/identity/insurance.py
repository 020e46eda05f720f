"""Japanese insurance identifiers: 保険者番号, 被保険者記号・番号・枝番, 公費負担者番号, 受給者番号.

Pure. Every parser returns a normalised value or raises `IdentifierError` whose message is
Japanese first, then English, and never repeats the value it rejects (it may be personal).

Check digit (検証番号, MHLW rule): multiply the digits preceding the check digit by 2 and 1
alternately, starting with 2 on the last one; add the digits of each product; the check digit is
10 minus the last digit of the sum (0 when that last digit is 0). 3312001 → 5, so 33120015 is a
valid 保険者番号. Leading zeros do not change the sum, so a 6-digit 国民健康保険 number and its
8-digit zero-padded form have the same check digit.

Layouts:
- 保険者番号, 8 digits: 法別番号 (2) + 都道府県番号 (2) + 保険者別番号 (3) + 検証番号 (1).
- 保険者番号, 6 digits (市町村国保, 国保組合): 都道府県番号 (2) + 保険者別番号 (3) + 検証番号 (1).
- 公費負担者番号, 8 digits: 法別番号 (2) + 都道府県番号 (2) + 実施機関番号 (3) + 検証番号 (1).
- 公費受給者番号, 7 digits: 受給者番号 (6) + 検証番号 (1).
- 個人単位被保険者番号 = 保険者番号 + 被保険者記号 + 被保険者番号 + 枝番 (2 digits); as one
  string it is the JP-CLINS 被保険者個人識別子 `保険者番号(8):記号:番号:枝番` (`MemberId`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

# --- identifier and extension systems (JP Core 1.x, JP-CLINS 1.5) -----------------------------

#: JP-CLINS 被保険者個人識別子 (Patient.identifier, Coverage.identifier[insuranceIdentifier]).
MEMBER_ID_SYSTEM: Final = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
#: JP-CLINS identifier of a 公費 (e.g. 生活保護) recipient: `公費負担者番号::受給者番号:`.
PUBLIC_MEMBER_ID_SYSTEM: Final = "http://jpfhir.jp/fhir/clins/Idsystem/JP_PublicPayer_memberID"
#: JP Core Coverage.identifier[insuranceCsvIdentifier]: `"保険者番号","記号","番号","枝番"`.
COVERAGE_CSV_ID_SYSTEM: Final = "http://jpfhir.jp/fhir/core/IdSystem/JP_Coverage_id"
#: 保険者番号 (Organization.identifier of an insurer). OID form: urn:oid:1.2.392.100495.20.3.61.
INSURER_NUMBER_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber"
INSURER_NUMBER_OID: Final = "urn:oid:1.2.392.100495.20.3.61"
#: 公費負担者番号 (Organization.identifier of a public payer). OID: urn:oid:1.2.392.100495.20.3.71.
PUBLIC_PAYER_NUMBER_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/PublicPayerNumber"
PUBLIC_PAYER_NUMBER_OID: Final = "urn:oid:1.2.392.100495.20.3.71"
#: 公費受給者番号.
PUBLIC_RECIPIENT_NUMBER_SYSTEM: Final = (
    "http://jpfhir.jp/fhir/core/mhlw/IdSystem/PublicInsuredPersonNumber"
)
#: 被保険者記号 / 番号 / 枝番 as identifier systems.
INSURED_SYMBOL_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsuredPersonSymbol"
INSURED_NUMBER_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsuredPersonNumber"
INSURED_SUBNUMBER_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsuredPersonSubnumber"
#: 医療機関コード / 薬局コード (10 digits).
FACILITY_CODE_SYSTEM: Final = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"

_EXT: Final = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/"
#: JP Core Coverage extensions carrying 記号, 番号 and 枝番 (valueString).
SYMBOL_EXTENSION: Final = _EXT + "JP_Coverage_InsuredPersonSymbol"
NUMBER_EXTENSION: Final = _EXT + "JP_Coverage_InsuredPersonNumber"
SUBNUMBER_EXTENSION: Final = _EXT + "JP_Coverage_InsuredPersonSubNumber"

#: 保険種別 (Coverage.type) and 被保険者区分 (Coverage.relationship) code systems (JAMI).
INSURANCE_TYPE_SYSTEM: Final = "urn:oid:1.2.392.100495.20.2.61"
INSURANCE_TYPE_SYSTEM_URL: Final = (
    "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/InsuranceMajorCategory"
)
INSURED_CATEGORY_SYSTEM: Final = "urn:oid:1.2.392.100495.20.2.62"
INSURED_CATEGORY_SYSTEM_URL: Final = (
    "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/InsuredPersonCategory"
)


class IdentifierError(ValueError):
    """An identifier that does not follow its rule. `field` names the part (e.g. `insurer`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- check digit ---------------------------------------------------------------------------------


def check_digit(body: str) -> int:
    """The MHLW check digit (検証番号) of the digits `body` (those preceding the check digit)."""
    if not body or not body.isascii() or not body.isdigit():
        raise IdentifierError("digits", "数字のみを指定してください / digits only are allowed")
    total = 0
    for position, char in enumerate(reversed(body)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def with_check_digit(body: str) -> str:
    """`body` followed by its check digit."""
    return body + str(check_digit(body))


def has_valid_check_digit(number: str) -> bool:
    """Whether the last digit of `number` is the check digit of the digits before it."""
    if len(number) < 2 or not number.isascii() or not number.isdigit():
        return False
    return check_digit(number[:-1]) == int(number[-1])


# --- 法別番号 ------------------------------------------------------------------------------------

#: 法別番号 of medical insurance (医療保険) → meaning.
INSURANCE_LAW_CODES: Final[dict[str, str]] = {
    "01": "全国健康保険協会管掌健康保険 (協会けんぽ)",
    "02": "船員保険",
    "03": "日雇特例被保険者の保険 (一般療養)",
    "04": "日雇特例被保険者の保険 (特別療養費)",
    "06": "組合管掌健康保険",
    "07": "自衛官等の療養の給付 (防衛省)",
    "31": "国家公務員共済組合",
    "32": "地方公務員等共済組合",
    "33": "警察共済組合",
    "34": "公立学校共済組合・日本私立学校振興・共済事業団",
    "39": "後期高齢者医療",
    "63": "特定健康保険組合 (特例退職被保険者)",
    "67": "国民健康保険 (退職者医療)",
    "72": "国家公務員共済組合 (特例退職被保険者)",
    "73": "地方公務員等共済組合 (特例退職被保険者)",
    "74": "警察共済組合 (特例退職被保険者)",
    "75": "公立学校共済組合・日本私立学校振興・共済事業団 (特例退職被保険者)",
}

#: 法別番号 of public expense programmes (公費負担医療) → meaning.
PUBLIC_LAW_CODES: Final[dict[str, str]] = {
    "10": "感染症法 結核患者の適正医療",
    "11": "感染症法 結核患者の入院",
    "12": "生活保護法 医療扶助",
    "13": "戦傷病者特別援護法 療養の給付",
    "14": "戦傷病者特別援護法 更生医療",
    "15": "障害者総合支援法 更生医療",
    "16": "障害者総合支援法 育成医療",
    "17": "児童福祉法 療育の給付",
    "18": "原爆被爆者援護法 認定疾病医療",
    "19": "原爆被爆者援護法 一般疾病医療費",
    "20": "精神保健福祉法 措置入院",
    "21": "障害者総合支援法 精神通院医療",
    "22": "麻薬及び向精神薬取締法 入院措置",
    "23": "母子保健法 養育医療",
    "24": "障害者総合支援法 療養介護医療",
    "25": "中国残留邦人等支援法 医療支援給付",
    "28": "感染症法 一類・二類感染症等の入院",
    "29": "感染症法 新感染症の入院",
    "30": "心神喪失者等医療観察法 医療の実施",
    "38": "肝炎治療特別促進事業",
    "51": "特定疾患治療費・先天性血液凝固因子障害等治療費",
    "52": "児童福祉法 小児慢性特定疾病医療支援",
    "53": "児童福祉法 措置等に係る医療の給付",
    "54": "難病法 特定医療",
    "62": "ＰＣＢ油症患者に対する医療",
    "66": "石綿健康被害救済法 医療費",
    "79": "児童福祉法 障害児入所医療・肢体不自由児通所医療",
}

#: What a 6-digit 保険者番号 (no 法別番号) is.
NATIONAL_HEALTH_INSURANCE: Final = "国民健康保険"

_PREFECTURE_MIN: Final = 1
_PREFECTURE_MAX: Final = 47


def _ascii_digits(text: str) -> str:
    """Full-width digits to ASCII, surrounding blanks removed (no other change)."""
    return unicodedata.normalize("NFKC", text).strip()


def _check_prefecture(field: str, prefecture: str, label: str) -> None:
    if not _PREFECTURE_MIN <= int(prefecture) <= _PREFECTURE_MAX:
        raise IdentifierError(
            field,
            f"{label}の都道府県番号が 01〜47 ではありません / "
            "the prefecture number in the identifier is not 01-47",
        )


@dataclass(frozen=True)
class InsurerNumber:
    """A validated 保険者番号: `value` is 6 digits (国保) or 8 digits, as issued."""

    value: str

    @property
    def padded(self) -> str:
        """8 digits (a 6-digit 国保 number left-padded with 00), as JP-CLINS requires."""
        return self.value.rjust(8, "0")

    @property
    def is_national_health_insurance(self) -> bool:
        """市町村国保 or 国保組合 (6 digits)."""
        return len(self.value) == 6

    @property
    def law_code(self) -> str | None:
        """法別番号 (None for a 6-digit 国保 number)."""
        return None if self.is_national_health_insurance else self.value[:2]

    @property
    def prefecture(self) -> str:
        """都道府県番号 (JIS X 0401, 2 digits)."""
        return self.value[-6:-4]

    @property
    def kind(self) -> str:
        """What the 法別番号 means (Japanese)."""
        if self.law_code is None:
            return NATIONAL_HEALTH_INSURANCE
        return INSURANCE_LAW_CODES[self.law_code]


def parse_insurer_number(text: str) -> InsurerNumber:
    """A 保険者番号 of 6 or 8 digits (full-width digits accepted; `00` + 6 digits is read as the
    6-digit 国保 number), with a known 法別番号, a prefecture 01–47 and a valid check digit."""
    digits = _ascii_digits(text)
    if not re.fullmatch(r"[0-9]{6}|[0-9]{8}", digits):
        raise IdentifierError(
            "insurer",
            "保険者番号は 6 桁または 8 桁の数字です / the insurer number must be 6 or 8 digits",
        )
    if len(digits) == 8 and digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 8 and digits[:2] not in INSURANCE_LAW_CODES:
        raise IdentifierError(
            "insurer",
            "保険者番号の法別番号が医療保険のものではありません / "
            "the insurer number's law code is not a medical insurance law code",
        )
    _check_prefecture("insurer", digits[-6:-4], "保険者番号")
    if not has_valid_check_digit(digits):
        raise IdentifierError(
            "insurer",
            "保険者番号の検証番号が正しくありません / the insurer number's check digit is wrong",
        )
    return InsurerNumber(digits)


@dataclass(frozen=True)
class PublicPayerNumber:
    """A validated 公費負担者番号 (8 digits)."""

    value: str

    @property
    def law_code(self) -> str:
        return self.value[:2]

    @property
    def prefecture(self) -> str:
        return self.value[2:4]

    @property
    def kind(self) -> str:
        return PUBLIC_LAW_CODES[self.law_code]


def parse_public_payer_number(text: str) -> PublicPayerNumber:
    """A 公費負担者番号: 8 digits, a known 公費 法別番号, prefecture 01–47, valid check digit."""
    digits = _ascii_digits(text)
    if not re.fullmatch(r"[0-9]{8}", digits):
        raise IdentifierError(
            "publicPayer",
            "公費負担者番号は 8 桁の数字です / the public payer number must be 8 digits",
        )
    if digits[:2] not in PUBLIC_LAW_CODES:
        raise IdentifierError(
            "publicPayer",
            "公費負担者番号の法別番号が公費のものではありません / "
            "the public payer number's law code is not a public expense law code",
        )
    _check_prefecture("publicPayer", digits[2:4], "公費負担者番号")
    if not has_valid_check_digit(digits):
        raise IdentifierError(
            "publicPayer",
            "公費負担者番号の検証番号が正しくありません / "
            "the public payer number's check digit is wrong",
        )
    return PublicPayerNumber(digits)


def parse_public_recipient_number(text: str) -> str:
    """A 公費受給者番号: 7 digits with a valid check digit."""
    digits = _ascii_digits(text)
    if not re.fullmatch(r"[0-9]{7}", digits):
        raise IdentifierError(
            "recipient",
            "受給者番号は 7 桁の数字です / the recipient number must be 7 digits",
        )
    if not has_valid_check_digit(digits):
        raise IdentifierError(
            "recipient",
            "受給者番号の検証番号が正しくありません / the recipient number's check digit is wrong",
        )
    return digits


# --- 記号・番号・枝番 -----------------------------------------------------------------------------

# Dash-like characters people type inside 記号 (e.g. １２－３４) → ASCII hyphen.
_DASHES: Final = str.maketrans(dict.fromkeys("‐‑‒–—―−ｰ－﹣", "-"))
_SYMBOL_MAX: Final = 20
_NUMBER_MAX: Final = 20
_SYMBOL_RE: Final = re.compile(r"[0-9A-Za-z\-\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff・]+")
_NUMBER_RE: Final = re.compile(r"[0-9A-Za-z\-]+")


def normalize_symbol(text: str) -> str:
    """被保険者記号 in its canonical half-width form: NFKC (full-width digits and letters →
    ASCII, half-width kana → full-width), dashes unified to `-`, every space removed.
    Kanji and kana stay as they are (記号 such as `あいう` or `東京` exist). Empty is allowed."""
    canonical = unicodedata.normalize("NFKC", text).translate(_DASHES)
    canonical = "".join(canonical.split())
    if not canonical:
        return ""
    if len(canonical) > _SYMBOL_MAX or not _SYMBOL_RE.fullmatch(canonical):
        raise IdentifierError(
            "symbol",
            "被保険者記号に使えない文字が含まれているか長すぎます / "
            "the insured symbol has characters that are not allowed or is too long",
        )
    return canonical


def normalize_number(text: str) -> str:
    """被保険者番号 in canonical half-width form (digits, letters and `-`; required)."""
    canonical = "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).split())
    if not canonical:
        raise IdentifierError(
            "number", "被保険者番号がありません / the insured person number is missing"
        )
    if len(canonical) > _NUMBER_MAX or not _NUMBER_RE.fullmatch(canonical):
        raise IdentifierError(
            "number",
            "被保険者番号に使えない文字が含まれているか長すぎます / "
            "the insured person number has characters that are not allowed or is too long",
        )
    return canonical


def normalize_branch(text: str | int | None) -> str:
    """枝番: exactly 2 digits (full-width accepted; a single digit is zero-padded); `""` when
    absent (insurance issued before 枝番 existed)."""
    if text is None:
        return ""
    if isinstance(text, int):
        text = str(text)
    digits = _ascii_digits(text)
    if not digits:
        return ""
    if re.fullmatch(r"[0-9]", digits):
        digits = "0" + digits
    if not re.fullmatch(r"[0-9]{2}", digits):
        raise IdentifierError(
            "branch", "枝番は 2 桁の数字です / the branch number must be 2 digits"
        )
    return digits


def to_full_width(text: str) -> str:
    """ASCII letters, digits and `-` to full-width (JP Core stores 記号・番号 in full width
    in some places, e.g. `insuranceCsvIdentifier` and `Coverage.dependent`)."""
    out = []
    for char in text:
        if char == "-":
            out.append("－")
        elif "!" <= char <= "~":
            out.append(chr(ord(char) + 0xFEE0))
        else:
            out.append(char)
    return "".join(out)


# --- 個人単位被保険者番号 / JP-CLINS member id ---------------------------------------------


@dataclass(frozen=True)
class MemberId:
    """個人単位被保険者番号: 保険者番号 + 記号 + 番号 + 枝番, all normalised.

    `insurer` is 6 or 8 digits as issued; `symbol` may be empty (国保組合, 後期高齢者医療);
    `branch` is 2 digits or empty.
    """

    insurer: str
    symbol: str
    number: str
    branch: str

    @classmethod
    def of(cls, insurer: str, symbol: str, number: str, branch: str | int | None) -> MemberId:
        """Validated and normalised parts (raises `IdentifierError`)."""
        return cls(
            parse_insurer_number(insurer).value,
            normalize_symbol(symbol),
            normalize_number(number),
            normalize_branch(branch),
        )

    def format(self) -> str:
        """The JP-CLINS 被保険者個人識別子: `保険者番号(8):記号:番号:枝番` (trailing `:` kept)."""
        return ":".join((self.insurer.rjust(8, "0"), self.symbol, self.number, self.branch))

    def identifier(self) -> dict[str, str]:
        """As a FHIR Identifier (Patient.identifier, Coverage.identifier)."""
        return {"system": MEMBER_ID_SYSTEM, "value": self.format()}

    def csv_identifier(self) -> dict[str, str]:
        """JP Core `insuranceCsvIdentifier`: `"保険者番号","記号","番号","枝番"` (記号・番号 in
        full width, as the profile asks)."""
        parts = (
            self.insurer.rjust(8, "0"),
            to_full_width(self.symbol),
            to_full_width(self.number),
            self.branch,
        )
        return {"system": COVERAGE_CSV_ID_SYSTEM, "value": ",".join(f'"{p}"' for p in parts)}

    @property
    def key(self) -> str:
        """A compact lookup key (the JP-CLINS string with the 6-digit form of 国保 numbers)."""
        return ":".join((self.insurer, self.symbol, self.number, self.branch))


@lru_cache(maxsize=65536)
def parse_member_id(value: str) -> MemberId:
    """A JP-CLINS 被保険者個人識別子 `保険者番号:記号:番号:枝番` (exactly 4 `:`-separated parts,
    the last possibly empty), validated and normalised."""
    parts = value.split(":")
    if len(parts) != 4:
        raise IdentifierError(
            "memberId",
            "被保険者個人識別子は「保険者番号:記号:番号:枝番」の形式です / "
            "the member identifier must be 'insurer:symbol:number:branch'",
        )
    if "\u3000" in parts[1] or "\u3000" in parts[2]:
        raise IdentifierError(
            "memberId",
            "被保険者個人識別子に全角スペースは使えません / "
            "the member identifier must not contain a full-width space",
        )
    return MemberId.of(parts[0], parts[1], parts[2], parts[3])


@dataclass(frozen=True)
class PublicMemberId:
    """公費: 公費負担者番号 (8) + 受給者番号 (7)."""

    payer: str
    recipient: str

    @classmethod
    def of(cls, payer: str, recipient: str) -> PublicMemberId:
        return cls(parse_public_payer_number(payer).value, parse_public_recipient_number(recipient))

    def format(self) -> str:
        """JP-CLINS `公費負担者番号::受給者番号:`."""
        return f"{self.payer}::{self.recipient}:"

    def identifier(self) -> dict[str, str]:
        return {"system": PUBLIC_MEMBER_ID_SYSTEM, "value": self.format()}


def parse_public_member_id(value: str) -> PublicMemberId:
    """A JP-CLINS `公費負担者番号::受給者番号:`."""
    parts = value.split(":")
    if len(parts) != 4 or parts[1] or parts[3]:
        raise IdentifierError(
            "memberId",
            "公費の識別子は「公費負担者番号::受給者番号:」の形式です / "
            "the public payer member identifier must be 'payer::recipient:'",
        )
    return PublicMemberId.of(parts[0], parts[2])
