"""Insurer roster CSV (被保険者台帳) → Patient + Coverage per insured person. Pure.

Layout (docs/identity-eligibility.md): UTF-8 (with or without BOM) or Shift_JIS (cp932), a
header row, one row per insured person. Each column may be named in English or Japanese:

| column | 日本語 | required | content |
|---|---|---|---|
| insurer_number | 保険者番号 | yes | 6 or 8 digits, valid check digit |
| symbol | 記号 | no | 被保険者記号 (full or half width) |
| number | 番号 | yes | 被保険者番号 |
| branch | 枝番 | no | 2 digits |
| family_name | 氏名_姓 | name* | kanji |
| given_name | 氏名_名 | no | kanji |
| family_name_kana | カナ_姓 | name* | katakana |
| given_name_kana | カナ_名 | no | katakana |
| sex | 性別 | yes | 1 男 / 2 女 / 3 未設定 (or male / female / unknown) |
| birth_date | 生年月日 | yes | YYYY-MM-DD or YYYYMMDD |
| postal_code | 郵便番号 | no | 7 digits (`-` allowed) |
| address | 住所 | no | text |
| relationship | 本人家族 | no | 1 本人 (被保険者) / 2 家族 (被扶養者) |
| valid_from | 資格取得日 | yes | date |
| valid_to | 資格喪失日前日 | no | last valid day |
| copay_percent | 負担割合 | no | 0, 10, 20 or 30 |
| limit_category | 限度額適用区分 | no | A01–A06, B01–B10 |
| limit_classification | 限度額認定証区分 | no | 01–03 |
| limit_valid_from | 限度額有効開始日 | no | date |
| limit_valid_to | 限度額有効終了日 | no | date |
| reason_of_loss | 喪失事由 | no | 01 死亡, 02 生保開始, 03 他保険取得, 99 その他 (needs valid_to) |
| insurer_name | 保険者名 | no | text |
| person_id | 個人識別番号 | no | pseudonymous person key, `[A-Za-z0-9._-]{1,64}` (*) |

When `person_id` is given the Patient is found by it (so a person who changes insurer keeps
one Patient, and eligibility can answer 3 無効(新しい資格あり)); otherwise by the member id.

(*) family_name: a kanji or a kana family name is required. person_id: a stable key such
as the 中間サーバー's 機関別符号 — never the My Number itself.

Every error names the row (the file's line number, header = 1) and the column, never the
value.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import quote

from tsunagu.identity.coverage import (
    LIMIT_CATEGORIES,
    LIMIT_CLASSIFICATIONS,
    LOSS_REASONS,
    RELATIONSHIPS,
    CoverageFacts,
    LimitApplication,
    coverage_resource,
)
from tsunagu.identity.insurance import IdentifierError, MemberId

COLUMNS: Final[dict[str, str]] = {
    "insurer_number": "保険者番号",
    "symbol": "記号",
    "number": "番号",
    "branch": "枝番",
    "family_name": "氏名_姓",
    "given_name": "氏名_名",
    "family_name_kana": "カナ_姓",
    "given_name_kana": "カナ_名",
    "sex": "性別",
    "birth_date": "生年月日",
    "postal_code": "郵便番号",
    "address": "住所",
    "relationship": "本人家族",
    "valid_from": "資格取得日",
    "valid_to": "資格喪失日前日",
    "copay_percent": "負担割合",
    "limit_category": "限度額適用区分",
    "limit_classification": "限度額認定証区分",
    "limit_valid_from": "限度額有効開始日",
    "limit_valid_to": "限度額有効終了日",
    "reason_of_loss": "喪失事由",
    "insurer_name": "保険者名",
    "person_id": "個人識別番号",
}
#: Patient.identifier system of `person_id`.
PERSON_ID_SYSTEM: Final = "http://tsunagu.jp/fhir/Idsystem/person"
REQUIRED: Final = ("insurer_number", "number", "sex", "birth_date", "valid_from")
_ALIASES: Final = {**{k: k for k in COLUMNS}, **{v: k for k, v in COLUMNS.items()}}
_SEX: Final = {
    "1": "male",
    "2": "female",
    "3": "unknown",
    "male": "male",
    "female": "female",
    "unknown": "unknown",
    "男": "male",
    "女": "female",
}
NAME_REPRESENTATION: Final = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
_FIELD_COLUMNS: Final = {"insurer": "insurer_number", "branch": "branch", "symbol": "symbol"}
ENCODINGS: Final = ("auto", "utf-8", "cp932")
MAX_ROWS: Final = 2_000_000


@dataclass(frozen=True)
class RowError:
    """One problem: `row` is the line number in the file (header = 1); `column` its name."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.row} 行目 {self.column}: {self.message}"


@dataclass(frozen=True)
class RosterRow:
    """One insured person, validated."""

    row: int
    member: MemberId
    coverage: CoverageFacts
    patient: dict[str, Any]

    @property
    def patient_identifier(self) -> dict[str, str]:
        """The identifier the Patient is found by: `person_id` when given, else member id."""
        for identifier in self.patient["identifier"]:
            if identifier["system"] == PERSON_ID_SYSTEM:
                return dict(identifier)
        return self.member.identifier()

    def coverage_resource(self, beneficiary: str) -> dict[str, Any]:
        facts = CoverageFacts(**{**self.coverage.__dict__, "beneficiary": beneficiary})
        return coverage_resource(facts)


@dataclass(frozen=True)
class Roster:
    rows: list[RosterRow]
    errors: list[RowError]


class RosterFileError(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


def decode(data: bytes, encoding: str = "auto") -> str:
    """The text of a roster file: UTF-8 (BOM allowed) or cp932; `auto` tries UTF-8 first."""
    if encoding not in ENCODINGS:
        raise RosterFileError(
            "文字コードは auto, utf-8, cp932 のいずれかです / encoding must be auto, utf-8 or cp932"
        )
    tries = ("utf-8-sig", "cp932") if encoding == "auto" else (_codec(encoding),)
    for codec in tries:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(
        "ファイルを UTF-8 / Shift_JIS (cp932) として読めません / "
        "the file is neither UTF-8 nor Shift_JIS (cp932)"
    )


def _codec(encoding: str) -> str:
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def parse_roster(data: bytes, encoding: str = "auto") -> Roster:
    """Every valid row and every error of a roster file (a file with errors imports nothing)."""
    rows: list[RosterRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, record in _records(decode(data, encoding)):
        parsed = parse_row(line, record)
        if isinstance(parsed, list):
            errors.extend(parsed)
            continue
        first = seen.setdefault(parsed.member.key, line)
        if first != line:
            errors.append(
                RowError(
                    line,
                    "number",
                    f"{first} 行目と同じ被保険者です / the same insured person as row {first}",
                )
            )
            continue
        rows.append(parsed)
    return Roster(rows, errors)


def _records(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise RosterFileError("ヘッダ行がありません / the file has no header row")
    names: list[str | None] = []
    for raw in header:
        names.append(_ALIASES.get(raw.strip().lstrip("\ufeff")))
    unknown = [i + 1 for i, n in enumerate(names) if n is None and header[i].strip()]
    missing = [c for c in REQUIRED if c not in names]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"不明な列 (列番号 {unknown}) / unknown columns (positions {unknown})")
        if missing:
            parts.append(f"必須列がありません / required columns missing: {', '.join(missing)}")
        raise RosterFileError("; ".join(parts))
    for count, values in enumerate(reader, start=1):
        if count > MAX_ROWS:
            raise RosterFileError(
                f"行数が上限 {MAX_ROWS} を超えています / more than {MAX_ROWS} rows"
            )
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            yield line, {"__width__": str(len(values))}
            continue
        yield line, {n: v.strip() for n, v in zip(names, values, strict=True) if n is not None}


def parse_row(line: int, record: dict[str, str]) -> RosterRow | list[RowError]:
    """One row as a RosterRow, or every error it has."""
    if "__width__" in record:
        return [
            RowError(
                line,
                "*",
                "列の数がヘッダと一致しません / the row has a different number of columns",
            )
        ]
    errors: list[RowError] = []

    def fail(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    for column in REQUIRED:
        if not record.get(column):
            fail(column, "必須項目が空です / a required value is empty")
    if not record.get("family_name") and not record.get("family_name_kana"):
        fail("family_name", "氏名 (漢字またはカナ) が必要です / a kanji or kana name is required")
    member = None
    try:
        if record.get("insurer_number") and record.get("number"):
            member = MemberId.of(
                record["insurer_number"],
                record.get("symbol", ""),
                record["number"],
                record.get("branch", ""),
            )
    except IdentifierError as error:
        fail(_FIELD_COLUMNS.get(error.field, "number"), error.message)
    sex = _SEX.get(record.get("sex", "").lower())
    if record.get("sex") and sex is None:
        fail("sex", "性別は 1 (男) / 2 (女) / 3 (未設定) です / sex must be 1, 2 or 3")
    dates: dict[str, date | None] = {}
    for column in ("birth_date", "valid_from", "valid_to", "limit_valid_from", "limit_valid_to"):
        value = record.get(column, "")
        dates[column] = _date(value)
        if value and dates[column] is None:
            fail(
                column, "日付は YYYY-MM-DD または YYYYMMDD です / dates are YYYY-MM-DD or YYYYMMDD"
            )
    start, end = dates["valid_from"], dates["valid_to"]
    if start and end and end < start:
        fail("valid_to", "有効期間の終了が開始より前です / the coverage ends before it starts")
    born = dates["birth_date"]
    if born and start and start < born:
        fail("valid_from", "資格取得日が生年月日より前です / coverage starts before birth")
    copay = None
    if record.get("copay_percent"):
        copay = _int(record["copay_percent"])
        if copay not in (0, 10, 20, 30):
            fail("copay_percent", "負担割合は 0, 10, 20, 30 です / copay must be 0, 10, 20 or 30")
    limit = None
    category = record.get("limit_category", "").upper()
    classification = record.get("limit_classification") or None
    if category and category not in LIMIT_CATEGORIES:
        fail("limit_category", "限度額適用区分は A01〜A06, B01〜B10 です / unknown limit category")
    if classification and classification not in LIMIT_CLASSIFICATIONS:
        fail("limit_classification", "認定証区分は 01〜03 です / unknown certificate type")
    if category in LIMIT_CATEGORIES:
        limit = LimitApplication(
            category, classification, dates["limit_valid_from"], dates["limit_valid_to"]
        )
    loss = record.get("reason_of_loss") or None
    if loss is not None and loss not in LOSS_REASONS:
        fail("reason_of_loss", "喪失事由は 01, 02, 03, 99 です / unknown reason of loss")
    if loss is not None and end is None:
        fail("valid_to", "喪失事由には資格喪失日前日が必要です / a loss needs valid_to")
    relationship = record.get("relationship") or None
    if relationship is not None and relationship not in RELATIONSHIPS:
        fail("relationship", "本人家族は 1 (本人) / 2 (家族) です / relationship must be 1 or 2")
    person = record.get("person_id", "")
    if person and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", person):
        fail(
            "person_id", "個人識別番号は英数字 64 文字以内です / person_id is 1-64 of A-Za-z0-9-_."
        )
    postal = record.get("postal_code", "").replace("-", "")
    if postal and not re.fullmatch(r"[0-9]{7}", postal):
        fail("postal_code", "郵便番号は 7 桁です / a postal code is 7 digits")
    if errors or member is None or sex is None or born is None:
        return errors
    coverage = CoverageFacts(
        member=member,
        status="active" if loss is None else "cancelled",
        start=start,
        end=end,
        relationship=relationship,
        copay_percent=copay,
        limit=limit,
        reason_of_loss=loss,
        insurer_name=record.get("insurer_name") or None,
    )
    return RosterRow(line, member, coverage, _patient(record, member, sex, born, postal))


def _patient(
    record: dict[str, str], member: MemberId, sex: str, born: date, postal: str
) -> dict[str, Any]:
    names = []
    for suffix, representation in (("", "IDE"), ("_kana", "SYL")):
        family, given = (
            record.get(f"family_name{suffix}", ""),
            record.get(f"given_name{suffix}", ""),
        )
        if not family:
            continue
        name: dict[str, Any] = {
            "extension": [{"url": NAME_REPRESENTATION, "valueCode": representation}],
            "use": "official",
            "text": f"{family} {given}".strip(),
            "family": family,
        }
        if given:
            name["given"] = [given]
        names.append(name)
    identifiers = [member.identifier()]
    if record.get("person_id"):
        identifiers.append({"system": PERSON_ID_SYSTEM, "value": record["person_id"]})
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": names,
        "gender": sex,
        "birthDate": born.isoformat(),
    }
    address = record.get("address", "")
    if address or postal:
        entry: dict[str, Any] = {"use": "home", "country": "JP"}
        if address:
            entry["text"] = address
        if postal:
            entry["postalCode"] = f"{postal[:3]}-{postal[3:]}"
        patient["address"] = [entry]
    return patient


def _date(value: str) -> date | None:
    value = value.strip()
    if re.fullmatch(r"[0-9]{8}", value):
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _int(value: str) -> int | None:
    value = value.strip().removesuffix("%")
    return int(value) if value.isdigit() else None


# --- as a transaction Bundle ---------------------------------------------------------------------


def transaction_entries(rows: list[RosterRow]) -> list[dict[str, Any]]:
    """Transaction Bundle entries: per row a conditional update of the Patient (by member
    identifier) and of its Coverage (by member identifier), linked by a `urn:uuid` fullUrl.
    Re-importing the same roster changes nothing but versions; nothing is merged silently."""
    entries: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        criteria = _criteria(row.member.identifier())
        full_url = f"urn:uuid:00000000-0000-4000-8000-{index:012d}"
        entries.append(
            {
                "fullUrl": full_url,
                "resource": row.patient,
                "request": {
                    "method": "PUT",
                    "url": f"Patient?{_criteria(row.patient_identifier)}",
                },
            }
        )
        entries.append(
            {
                "resource": row.coverage_resource(full_url),
                "request": {"method": "PUT", "url": f"Coverage?{criteria}"},
            }
        )
    return entries


def _criteria(identifier: dict[str, str]) -> str:
    return "identifier=" + quote(f"{identifier['system']}|{identifier['value']}", safe="")
