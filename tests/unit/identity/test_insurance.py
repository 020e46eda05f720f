"""保険者番号 check digits, 記号・番号・枝番 normalisation and the JP-CLINS member identifier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.identity.insurance import (
    INSURANCE_LAW_CODES,
    MEMBER_ID_SYSTEM,
    PUBLIC_LAW_CODES,
    IdentifierError,
    MemberId,
    check_digit,
    has_valid_check_digit,
    normalize_branch,
    normalize_number,
    normalize_symbol,
    parse_insurer_number,
    parse_member_id,
    parse_public_member_id,
    parse_public_payer_number,
    parse_public_recipient_number,
    to_full_width,
    with_check_digit,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=12)
prefectures = st.integers(1, 47).map(lambda n: f"{n:02d}")


@st.composite
def insurer_numbers(draw: st.DrawFn) -> str:
    pref = draw(prefectures)
    serial = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    if draw(st.booleans()):
        return with_check_digit(pref + serial)  # 6-digit 国保
    law = draw(st.sampled_from(sorted(INSURANCE_LAW_CODES)))
    return with_check_digit(law + pref + serial)


def test_the_mhlw_example() -> None:
    assert check_digit("3312001") == 5
    assert has_valid_check_digit("33120015")
    assert parse_insurer_number("33120015").value == "33120015"


@pytest.mark.parametrize(
    ("body", "expected"),
    [("0613999", 2), ("0113001", 2), ("13840", 4), ("3913001", 8), ("19", 0), ("1", 8), ("5", 9)],
)
def test_check_digit_by_hand(body: str, expected: int) -> None:
    # 0613999: from the last: 9*2=18→9, 9*1=9, 9*2=18→9, 3*1=3, 1*2=2, 6*1=6, 0 → 38 → 10-8 = 2
    assert check_digit(body) == expected


@given(digits)
def test_appending_the_check_digit_validates(body: str) -> None:
    assert has_valid_check_digit(with_check_digit(body))


@given(digits, st.integers(0, 9))
def test_any_other_last_digit_fails(body: str, wrong: int) -> None:
    if wrong != check_digit(body):
        assert not has_valid_check_digit(body + str(wrong))


@given(digits, st.data())
def test_a_single_digit_error_is_always_caught(body: str, data: st.DataObject) -> None:
    number = with_check_digit(body)
    position = data.draw(st.integers(0, len(body) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != body[position]]))
    altered = number[:position] + replacement + number[position + 1 :]
    assert not has_valid_check_digit(altered)


@given(digits)
def test_leading_zeros_do_not_change_the_check_digit(body: str) -> None:
    assert check_digit("00" + body) == check_digit(body)


def test_check_digit_rejects_non_digits() -> None:
    for bad in ("", "12a", "１２３"):
        with pytest.raises(IdentifierError):
            check_digit(bad)
    assert not has_valid_check_digit("1")
    assert not has_valid_check_digit("12a4")


@given(insurer_numbers())
def test_valid_insurer_numbers_parse(number: str) -> None:
    parsed = parse_insurer_number(number)
    assert parsed.value == number
    assert len(parsed.padded) == 8
    assert parsed.padded.endswith(number)
    assert 1 <= int(parsed.prefecture) <= 47
    if len(number) == 6:
        assert parsed.is_national_health_insurance
        assert parsed.law_code is None
        assert parsed.kind == "国民健康保険"
        assert parse_insurer_number(parsed.padded) == parsed
    else:
        assert parsed.kind == INSURANCE_LAW_CODES[number[:2]]


def test_insurer_number_meaning() -> None:
    assert parse_insurer_number(with_check_digit("0113001")).kind.startswith("全国健康保険協会")
    assert parse_insurer_number(with_check_digit("3913001")).law_code == "39"
    assert parse_insurer_number("３３１２００１５").value == "33120015"  # full-width digits


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("3312001", "6 桁または 8 桁"),
        ("33120016", "検証番号"),
        (with_check_digit("1213001"), "法別番号"),  # 12 is 公費 (生活保護), not insurance
        (with_check_digit("0148001"), "都道府県番号"),
        (with_check_digit("00001"), "都道府県番号"),
        ("abcdefgh", "6 桁または 8 桁"),
    ],
)
def test_invalid_insurer_numbers(number: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        parse_insurer_number(number)
    assert fragment in caught.value.message
    assert " / " in caught.value.message  # Japanese / English
    assert number not in caught.value.message  # the value itself is never echoed
    assert caught.value.field == "insurer"


def test_public_payer_and_recipient() -> None:
    payer = with_check_digit("1213001")
    assert parse_public_payer_number(payer).kind == PUBLIC_LAW_CODES["12"]
    assert parse_public_payer_number(payer).prefecture == "13"
    recipient = with_check_digit("123456")
    assert parse_public_recipient_number(recipient) == recipient
    member = parse_public_member_id(f"{payer}::{recipient}:")
    assert member.format() == f"{payer}::{recipient}:"
    with pytest.raises(IdentifierError):
        parse_public_payer_number(with_check_digit("0613001"))  # insurance law code
    with pytest.raises(IdentifierError):
        parse_public_payer_number(payer[:-1] + str((int(payer[-1]) + 1) % 10))
    with pytest.raises(IdentifierError):
        parse_public_recipient_number(recipient[:-1] + str((int(recipient[-1]) + 1) % 10))
    with pytest.raises(IdentifierError):
        parse_public_recipient_number("12345")
    with pytest.raises(IdentifierError):
        parse_public_member_id(f"{payer}:x:{recipient}:")


@given(st.sampled_from(sorted(PUBLIC_LAW_CODES)), prefectures, st.integers(0, 999))
def test_generated_public_payer_numbers_parse(law: str, pref: str, serial: int) -> None:
    number = with_check_digit(f"{law}{pref}{serial:03d}")
    assert parse_public_payer_number(number).value == number


def test_symbol_normalisation() -> None:
    assert normalize_symbol("１２－３４") == "12-34"
    assert normalize_symbol(" 12 ‐ 34 ") == "12-34"
    assert normalize_symbol("あいう") == "あいう"
    assert normalize_symbol("ｱｲｳ") == "アイウ"
    assert normalize_symbol("") == ""
    with pytest.raises(IdentifierError):
        normalize_symbol("12;34")
    with pytest.raises(IdentifierError):
        normalize_symbol("1" * 21)


def test_number_and_branch_normalisation() -> None:
    assert normalize_number("５６７８") == "5678"
    with pytest.raises(IdentifierError):
        normalize_number(" ")
    with pytest.raises(IdentifierError):
        normalize_number("56:78")
    assert normalize_branch("０１") == "01"
    assert normalize_branch("1") == "01"
    assert normalize_branch(3) == "03"
    assert normalize_branch(None) == ""
    assert normalize_branch("") == ""
    for bad in ("123", "a1", "-1"):
        with pytest.raises(IdentifierError):
            normalize_branch(bad)


@given(st.text(alphabet="0123456789ABCXYZabc-", min_size=1, max_size=10))
def test_full_and_half_width_are_the_same_number(number: str) -> None:
    assert normalize_number(to_full_width(number)) == normalize_number(number)
    assert normalize_symbol(to_full_width(number)) == normalize_symbol(number)


def test_member_id_format_and_csv_identifier() -> None:
    insurer = with_check_digit("0613999")
    member = MemberId.of(insurer, "１２－３４", "５６７８", "0")
    assert member.format() == f"{insurer}:12-34:5678:00"
    assert member.identifier() == {"system": MEMBER_ID_SYSTEM, "value": member.format()}
    assert member.csv_identifier()["value"] == f'"{insurer}","１２－３４","５６７８","00"'
    national = MemberId.of(with_check_digit("13840"), "", "123", "")
    assert national.format() == "00138404::123:"  # 国保: 8-digit padded, empty parts kept
    assert national.key == "138404::123:"


@given(
    insurer_numbers(),
    st.text(alphabet="0123456789あいう-", max_size=8),
    st.text(alphabet="0123456789", min_size=1, max_size=10),
    st.one_of(st.just(""), st.integers(0, 99).map(lambda n: f"{n:02d}")),
)
def test_member_id_round_trips(insurer: str, symbol: str, number: str, branch: str) -> None:
    member = MemberId.of(insurer, symbol, number, branch)
    text = member.format()
    assert text.count(":") == 3
    assert parse_member_id(text) == member
    assert parse_member_id(MemberId.of(insurer, to_full_width(symbol), number, branch).format())


@pytest.mark.parametrize(
    "value",
    [
        "33120015:1:2",  # 3 parts
        "33120015:1:2:03:x",  # 5 parts
        "33120016:1:2:03",  # check digit
        "33120015:1:2:123",  # branch
        "33120015:1\u30002:3:01",  # full-width space
        "33120015:1::01",  # no number
    ],
)
def test_invalid_member_ids(value: str) -> None:
    with pytest.raises(IdentifierError):
        parse_member_id(value)
