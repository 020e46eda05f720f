"""string parameters: prefix match on normalised text, :exact, :contains, Japanese folding.

See: https://hl7.org/fhir/R4/search.html#string
"""

from __future__ import annotations

import pytest

from tests.api.search.support import Expected, SearchServer, all_pats, cases, check, pats

CASES: list[tuple[str, Expected]] = [
    # Kanji, katakana, hiragana and half-width katakana all find the same family name;
    # the deleted 山田 次郎 never matches.
    ("Patient?family=山田", pats(1, 2)),
    ("Patient?family=ヤマダ", pats(1, 2)),
    ("Patient?family=やまだ", pats(1, 2)),
    ("Patient?family=ﾔﾏﾀﾞ", pats(1, 2)),
    # A voiced mark typed as a separate combining character composes with its kana.
    ("Patient?family=ヤマタ\u3099", pats(1, 2)),
    ("Patient?family=やまた\u3099", pats(1, 2)),
    # Voiced marks are not accents: タ is not ダ.
    ("Patient?family=ヤマタ", set()),
    ("Patient?family=ハタ", pats(9)),
    ("Patient?family=ハダ", pats(11)),
    ("Patient?family=はだ", pats(11)),
    ("Patient?family=ﾊﾀ", pats(9)),
    ("Patient?family=ﾊﾀﾞ", pats(11)),
    # Prefix, not substring: 田 is the start of 田中 only.
    ("Patient?family=ヤマ", pats(1, 2, 10)),
    ("Patient?family=山", pats(1, 2, 10)),
    ("Patient?family=田", pats(3)),
    # Kanji variants are different characters: 髙橋 is not 高橋.
    ("Patient?family=髙橋", set()),
    ("Patient?family=高橋", pats(5)),
    ("Patient?family:contains=田", pats(1, 2, 3, 11)),
    ("Patient?family:exact=山田", pats(1, 2)),
    ("Patient?family:exact=ヤマダ", pats(1, 2)),
    ("Patient?family:exact=やまだ", set()),
    ("Patient?family:exact=山", set()),
    ("Patient?given=太郎", pats(1)),
    ("Patient?given=タロウ", pats(1)),
    ("Patient?given=たろう", pats(1)),
    ("Patient?given=さくら", pats(6)),
    ("Patient?given=サクラ", pats(6)),
    ("Patient?given=ｻｸﾗ", pats(6)),
    ("Patient?given=イチロウ", pats(3)),
    ("Patient?given=ｼｮｳ", pats(7)),  # half-width small kana
    ("Patient?given=しょう", pats(7)),
    ("Patient?given:exact=さくら", pats(6)),
    # Family and given written together, with or without a space.
    ("Patient?name=山田太郎", pats(1)),
    ("Patient?name=山田 太郎", pats(1)),
    ("Patient?name=ヤマダ タロウ", pats(1)),
    ("Patient?name=やまだたろう", pats(1)),
    ("Patient?name=山田　太郎", pats(1)),  # a full-width space, as typed in Japanese
    ("Patient?name=ヤマダ　タロウ", pats(1)),
    ("Patient?name=山田花", pats(2)),
    ("Patient?name=山田", pats(1, 2)),
    ("Patient?name=太郎", pats(1)),
    ("Patient?name=山田次郎", set()),
    ("Patient?name:contains=郎", pats(1, 3)),
    ("Patient?name:contains=さくら", pats(6)),
    # Case and accents are folded for Latin names.
    ("Patient?name=muller", pats(12)),
    ("Patient?name=MÜLLER", pats(12)),
    ("Patient?name=Müller Anna", pats(12)),
    ("Patient?name=mul", pats(12)),
    ("Patient?name=ＭＵＬＬＥＲ", pats(12)),  # full-width Latin letters
    ("Patient?name=ミュラー", pats(12)),
    ("Patient?name:exact=Müller", pats(12)),
    ("Patient?name:exact=muller", set()),
    # Addresses: every part is searched; full-width digits equal half-width ones.
    ("Patient?address=東京都", pats(1, 2, 10, 12)),
    ("Patient?address=東京", pats(1, 2, 10, 12)),
    ("Patient?address=西新宿2", pats(1, 2)),
    ("Patient?address=西新宿２丁目", pats(1, 2)),
    ("Patient?address=160", pats(1, 2)),
    ("Patient?address=〒160", pats(1, 2)),  # Address.text starts with the postal mark
    ("Patient?address:contains=中央区", pats(5, 11)),
    ("Patient?address:exact=東京都", pats(1, 2, 10, 12)),
    ("Patient?address-state=大阪府", pats(3)),
    ("Patient?address-state=神奈川", pats(4)),
    ("Patient?address-city=大阪市", pats(3)),
    ("Patient?address-city:exact=大阪市北区", pats(3)),
    ("Patient?address-city=さいたま", pats(9)),
    ("Patient?address-city=サイタマ", pats(9)),
    ("Patient?address-postalcode=160-0023", pats(1, 2)),
    ("Patient?address-postalcode=530", pats(3)),
    ("Patient?address-postalcode:exact=160", set()),
    ("Patient?address-country=JP", all_pats()),
    ("Patient?address-country=jp", all_pats()),
    # OR within a parameter, AND across parameters.
    ("Patient?family=山田,田中", pats(1, 2, 3)),
    ("Patient?given=太郎,花子", pats(1, 2)),
    ("Patient?given=太郎&given=花子", set()),
    ("Patient?family=山田&given=花子", pats(2)),
    ("Patient?name=山田&address-state=東京都&gender=female", pats(2)),
    ("Patient?name:missing=false", all_pats()),
    ("Patient?name:missing=true", set()),
    # LIKE wildcards in a value are literal characters.
    ("Patient?name:contains=%", set()),
    ("Patient?name:contains=_", set()),
    ("Patient?family=%田", set()),
    # Other resource types.
    ("Practitioner?name=佐藤", {"prac-01"}),
    ("Practitioner?name=sato", {"prac-01"}),
    ("Practitioner?family=スズキ", {"prac-02"}),
    ("Practitioner?given=まこと", {"prac-03"}),
    # `\,` is a literal comma, not an OR: with :exact the parts alone would match nothing.
    ("Practitioner?name:exact=SATO\\, Ichiro", {"prac-01"}),
    ("Practitioner?name:exact=SATO", set()),
    ("Organization?name=東京中央", {"org-tokyo", "org-tokyo-naika"}),
    ("Organization?name=中央", {"org-tokyo"}),  # the alias 中央病院
    ("Organization?name:exact=東京中央病院", {"org-tokyo"}),
    ("Organization?name:contains=クリニック", {"org-osaka"}),
    ("Organization?name:contains=内科", {"org-tokyo-naika"}),
    ("Organization?address-city=千代田区", {"org-tokyo"}),
    ("Organization?address:missing=true", {"org-tokyo-naika", "org-kyokai"}),
    ("Condition?onset-info=数年", {"cond-backpain-09"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_string_search(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)
