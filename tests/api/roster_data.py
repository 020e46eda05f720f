"""A small insurer roster shared by the eligibility, roster and CLI tests."""

from __future__ import annotations

from tsunagu.identity.insurance import with_check_digit

INSURER = with_check_digit("0613999")  # 組合管掌健康保険, 東京都
NEW_INSURER = with_check_digit("0127001")  # 協会けんぽ, 大阪府
HEADER = (
    "保険者番号,記号,番号,枝番,氏名_姓,氏名_名,カナ_姓,カナ_名,性別,生年月日,郵便番号,住所,"
    "本人家族,資格取得日,資格喪失日前日,負担割合,限度額適用区分,限度額認定証区分,"
    "限度額有効開始日,限度額有効終了日,喪失事由,保険者名,個人識別番号"
)
ROWS = [
    # 本人, valid, 限度額 A03
    f"{INSURER},12-34,5678,00,山田,太郎,ヤマダ,タロウ,1,1980-05-17,100-0001,東京都千代田区,"
    "1,2020-04-01,,30,A03,01,2024-08-01,2030-07-31,,つなぐ健康保険組合,",
    # 家族, valid
    f"{INSURER},12-34,5678,01,山田,花子,ヤマダ,ハナコ,2,1982-03-02,,,2,2020-04-01,,30,,,,,,"
    "つなぐ健康保険組合,",
    # lost (他保険取得) on 2024-03-31 ...
    f"{INSURER},12-34,9999,00,佐藤,一郎,サトウ,イチロウ,1,1975-01-01,,,1,2015-04-01,"
    "2024-03-31,30,,,,,03,つなぐ健康保険組合,P-SATO-1",
    # expired
    f"{INSURER},12-34,7777,00,鈴木,次郎,スズキ,ジロウ,1,1990-10-10,,,1,2015-04-01,"
    "2019-03-31,30,,,,,,つなぐ健康保険組合,",
]
# ... and 佐藤 一郎's new insurance (another file: a new insurer's roster)
NEW_ROWS = [
    f"{NEW_INSURER},77,1234,00,佐藤,一郎,サトウ,イチロウ,1,1975-01-01,,,1,2024-04-01,,30,,,,,,"
    "協会けんぽ大阪支部,P-SATO-1",
]


def roster_csv(rows: list[str] = ROWS) -> str:
    return "\n".join([HEADER, *rows]) + "\n"
