"""Insurer roster CSV: encodings, headers, per-row errors without personal values."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.coverage import coverage_issues
from tsunagu.identity.insurance import MEMBER_ID_SYSTEM, with_check_digit
from tsunagu.identity.roster import (
    COLUMNS,
    PERSON_ID_SYSTEM,
    RosterFileError,
    decode,
    parse_roster,
    transaction_entries,
)

INSURER = with_check_digit("0613999")
NATIONAL = with_check_digit("17204")
HEADER = (
    "insurer_number,symbol,number,branch,family_name,given_name,family_name_kana,"
    "given_name_kana,sex,birth_date,postal_code,address,relationship,valid_from,valid_to,"
    "copay_percent,limit_category,limit_classification,limit_valid_from,limit_valid_to,"
    "reason_of_loss,insurer_name"
)
GOOD = [
    f"{INSURER},１２－３４,５６７８,00,山田,太郎,ヤマダ,タロウ,1,1980-05-17,100-0001,"
    "東京都千代田区千代田1-1,1,2020-04-01,,30,A03,01,2024-08-01,2025-07-31,,つなぐ健保",
    f"{INSURER},１２－３４,５６７８,01,山田,花子,ヤマダ,ハナコ,2,19820302,,,2,2020-04-01,,30,,,,,,",
    f"{NATIONAL},,98765,,,,スズキ,イチロウ,1,1950-01-01,,,,2015-04-01,2024-03-31,30,,,,,03,",
]


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding)


def test_a_good_file() -> None:
    roster = parse_roster(csv_bytes(GOOD))
    assert roster.errors == []
    assert [r.row for r in roster.rows] == [2, 3, 4]
    first = roster.rows[0]
    assert first.member.format() == f"{INSURER}:12-34:5678:00"
    assert first.patient["identifier"] == [
        {"system": MEMBER_ID_SYSTEM, "value": first.member.format()}
    ]
    assert first.patient["birthDate"] == "1980-05-17"
    assert first.patient["gender"] == "male"
    assert first.patient["name"][1]["family"] == "ヤマダ"
    assert first.patient["address"][0]["postalCode"] == "100-0001"
    assert first.coverage.limit is not None
    assert first.coverage.limit.category == "A03"
    assert first.coverage.copay_percent == 30
    assert roster.rows[1].patient["birthDate"] == "1982-03-02"
    lost = roster.rows[2].coverage
    assert (lost.status, lost.reason_of_loss, lost.end) == ("cancelled", "03", date(2024, 3, 31))
    coverage = first.coverage_resource("Patient/x")
    assert coverage["beneficiary"] == {"reference": "Patient/x"}
    assert coverage_issues(coverage) == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_encodings(encoding: str) -> None:
    data = csv_bytes(GOOD, encoding)
    assert len(parse_roster(data).rows) == 3
    explicit = "cp932" if encoding == "cp932" else "utf-8"
    assert len(parse_roster(data, explicit).rows) == 3


def test_wrong_or_unknown_encoding() -> None:
    with pytest.raises(RosterFileError):
        parse_roster(csv_bytes(GOOD, "cp932"), "utf-8")
    with pytest.raises(RosterFileError):
        decode(b"abc", "latin-1")
    with pytest.raises(RosterFileError):
        decode(b"\xff\xfe\xfa\xfb\x81", "auto")


def test_japanese_headers() -> None:
    header = ",".join(COLUMNS[name] for name in HEADER.split(","))
    data = ("\n".join([header, *GOOD]) + "\n").encode("cp932")
    assert len(parse_roster(data).rows) == 3


def test_header_problems() -> None:
    with pytest.raises(RosterFileError, match="required columns missing: birth_date"):
        parse_roster(b"insurer_number,number,sex,valid_from,family_name\n")
    with pytest.raises(RosterFileError, match="positions \\[2\\]"):
        parse_roster(("insurer_number,氏名x," + HEADER).encode())
    with pytest.raises(RosterFileError, match="no header"):
        parse_roster(b"")


def test_every_row_error_is_reported_without_values() -> None:
    bad = [
        GOOD[0].replace(INSURER, INSURER[:-1] + str((int(INSURER[-1]) + 1) % 10), 1),
        GOOD[1].replace("19820302", "1982-02-30").replace(",2,2020", ",9,2020"),
        GOOD[0].replace(",30,A03", ",35,Z99"),
        GOOD[0],  # fine
        GOOD[0],  # the same person again
        "1,2,3",
        GOOD[2].replace("2024-03-31", ""),  # a loss without an end
    ]
    roster = parse_roster(csv_bytes(bad))
    found = [(e.row, e.column) for e in roster.errors]
    assert found == [
        (2, "insurer_number"),
        (3, "birth_date"),
        (3, "relationship"),
        (4, "copay_percent"),
        (4, "limit_category"),
        (6, "number"),
        (7, "*"),
        (8, "valid_to"),
    ]
    assert [r.row for r in roster.rows] == [5]
    text = " ".join(str(e) for e in roster.errors)
    for personal in ("山田", "5678", "1982", INSURER, "ヤマダ"):
        assert personal not in text
    assert all(" / " in e.message for e in roster.errors)


def test_blank_lines_are_skipped_and_rows_keep_their_line_numbers() -> None:
    roster = parse_roster(csv_bytes([GOOD[0], "", ",,,", GOOD[1]]))
    assert [r.row for r in roster.rows] == [2, 5]


def test_transaction_entries() -> None:
    roster = parse_roster(csv_bytes(GOOD))
    entries = transaction_entries(roster.rows)
    assert len(entries) == 6
    patient, coverage = entries[0], entries[1]
    assert patient["request"]["method"] == "PUT"
    assert patient["request"]["url"].startswith("Patient?identifier=http%3A%2F%2F")
    assert coverage["request"]["url"].startswith("Coverage?identifier=")
    assert coverage["resource"]["beneficiary"]["reference"] == patient["fullUrl"]
    assert len({e.get("fullUrl") for e in entries[::2]}) == 3


@given(st.lists(st.integers(0, 999_999), min_size=1, max_size=20, unique=True))
def test_many_generated_rows(numbers: list[int]) -> None:
    lines = [
        f"{INSURER},,{n},00,姓,名,セイ,メイ,{1 + n % 3},1990-01-01,,,1,2020-04-01,,30,,,,,,"
        for n in numbers
    ]
    roster = parse_roster(csv_bytes(lines, "cp932"))
    assert roster.errors == []
    assert [r.member.number for r in roster.rows] == [str(n) for n in numbers]


def test_person_id_keeps_one_patient_across_insurers() -> None:
    header = HEADER + ",person_id"
    lines = [GOOD[0] + ",P-1", GOOD[1] + ",", GOOD[2] + ",bad id!"]
    data = ("\n".join([header, *lines]) + "\n").encode()
    roster = parse_roster(data)
    assert [(e.row, e.column) for e in roster.errors] == [(4, "person_id")]
    first, second = roster.rows
    assert first.patient_identifier == {"system": PERSON_ID_SYSTEM, "value": "P-1"}
    assert second.patient_identifier == second.member.identifier()
    entries = transaction_entries(roster.rows)
    assert "P-1" in entries[0]["request"]["url"]
    assert entries[1]["request"]["url"].startswith("Coverage?identifier=http%3A%2F%2Fjpfhir")
