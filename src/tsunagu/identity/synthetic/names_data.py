"""Japanese surnames and given names with readings and approximate frequencies.

Our own lists. Surname counts are approximate numbers of bearers in thousands, in the order of
the well-known surname rankings (rounded; not an official statistic). Some surnames are written
in variant kanji by a share of their bearers (`高橋/髙橋:0.08`) or read two ways
(`河野 コウノ|カワノ:0.4`). Given-name weights are per birth cohort (born before 1955,
1955–1989, from 1990), following the shape of the published popular-name rankings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tsunagu.identity.synthetic.tables import Choice, parse_choice, rows

SURNAMES_TABLE: Final = """
佐藤 サトウ 1870
鈴木 スズキ 1790
高橋/髙橋:0.08 タカハシ 1410
田中 タナカ 1330
伊藤 イトウ 1070
渡辺/渡邊:0.05/渡邉:0.05 ワタナベ 1060
山本 ヤマモト 1060
中村 ナカムラ 1040
小林 コバヤシ 1010
加藤 カトウ 890
吉田 ヨシダ 840
山田 ヤマダ 810
佐々木 ササキ 670
山口 ヤマグチ 640
松本 マツモト 630
井上 イノウエ 610
木村 キムラ 570
林 ハヤシ 530
斎藤/齋藤:0.1/齊藤:0.05 サイトウ 520
清水 シミズ 510
山崎/山﨑:0.1 ヤマザキ|ヤマサキ:0.3 480
森 モリ 460
池田 イケダ 440
橋本 ハシモト 430
阿部 アベ 430
石川 イシカワ 420
山下 ヤマシタ 410
中島/中嶋:0.1 ナカジマ|ナカシマ:0.3 400
石井 イシイ 380
小川 オガワ 380
前田 マエダ 380
岡田 オカダ 370
長谷川 ハセガワ 370
藤田 フジタ 360
後藤 ゴトウ 360
近藤 コンドウ 350
村上 ムラカミ 340
遠藤 エンドウ 330
青木 アオキ 320
坂本 サカモト 320
斉藤 サイトウ 310
福田 フクダ 310
太田 オオタ 300
西村 ニシムラ 300
藤井 フジイ 290
金子 カネコ 290
岡本 オカモト 290
藤原 フジワラ 290
中野 ナカノ 280
三浦 ミウラ 280
原田 ハラダ 280
中川 ナカガワ 280
松田 マツダ 270
竹内 タケウチ 270
小野 オノ 270
田村 タムラ 270
中山 ナカヤマ 260
和田 ワダ 260
石田 イシダ 260
森田 モリタ 260
上田 ウエダ 250
原 ハラ 250
内田 ウチダ 250
柴田 シバタ 240
酒井 サカイ 240
宮崎/宮﨑:0.1 ミヤザキ 240
横山 ヨコヤマ 240
高木 タカギ 240
安藤 アンドウ 230
宮本 ミヤモト 230
大野 オオノ 230
小島/小嶋:0.1 コジマ 230
谷口 タニグチ 220
今井 イマイ 220
工藤 クドウ 220
高田 タカダ 210
増田 マスダ 210
丸山 マルヤマ 210
杉山 スギヤマ 210
村田 ムラタ 210
大塚 オオツカ 210
新井 アライ 200
小山 コヤマ 200
平野 ヒラノ 200
藤本 フジモト 200
河野 コウノ|カワノ:0.4 200
上野 ウエノ 200
野口 ノグチ 200
武田 タケダ 190
松井 マツイ 190
千葉 チバ 190
岩崎/岩﨑:0.1 イワサキ 190
菅原 スガワラ 190
木下 キノシタ 190
久保 クボ 190
佐野 サノ 190
野村 ノムラ 190
松尾 マツオ 190
市川 イチカワ 180
菊地 キクチ 180
杉本 スギモト 180
古川 フルカワ 180
大西 オオニシ 180
島田/嶋田:0.1 シマダ 180
水野 ミズノ 180
桜井/櫻井:0.1 サクライ 170
高野 タカノ 170
渡部 ワタナベ|ワタベ:0.4 170
吉川 ヨシカワ 170
山内 ヤマウチ 170
西田 ニシダ 170
飯田 イイダ 170
菊池 キクチ 170
西川 ニシカワ 160
小松 コマツ 160
北村 キタムラ 160
安田 ヤスダ 160
五十嵐 イガラシ 160
川口 カワグチ 160
平田 ヒラタ 160
関 セキ 160
中田 ナカタ 160
久保田 クボタ 150
服部 ハットリ 150
東 ヒガシ|アズマ:0.4 150
岩田 イワタ 150
土屋 ツチヤ 150
川崎/川﨑:0.1 カワサキ 150
福島 フクシマ 150
本田 ホンダ 150
辻 ツジ 150
樋口 ヒグチ 150
秋山 アキヤマ 150
田口 タグチ 140
永井 ナガイ 140
山中 ヤマナカ 140
中西 ナカニシ 140
吉村 ヨシムラ 140
川上 カワカミ 140
石原 イシハラ 140
大橋 オオハシ 140
松岡 マツオカ 140
馬場 ババ 140
浅野 アサノ 140
荒木 アラキ 130
大久保 オオクボ 130
浜田/濱田:0.15 ハマダ 130
広瀬/廣瀬:0.1 ヒロセ 110
沢田/澤田:0.2 サワダ 110
富田/冨田:0.2 トミタ 110
大沢/大澤:0.2 オオサワ 80
渡会 ワタライ 10
勅使河原 テシガワラ 5
小鳥遊 タカナシ 1
"""

GIVEN_TABLE_MALE: Final = """
# kanji reading old mid new
清 キヨシ 30 2 0
博 ヒロシ 28 8 0
茂 シゲル 25 2 0
実 ミノル 22 3 0
勇 イサム 22 3 0
進 ススム 20 3 0
正 タダシ 20 4 0
明 アキラ 18 6 0
弘 ヒロシ 18 6 0
隆 タカシ 15 10 1
和夫 カズオ 22 3 0
正男 マサオ 20 2 0
一郎 イチロウ 12 4 1
健一 ケンイチ 8 12 1
誠 マコト 6 22 3
浩 ヒロシ 8 15 0
大輔 ダイスケ 0 18 3
健太 ケンタ 0 14 4
拓也 タクヤ 0 16 4
翔太 ショウタ 0 12 8
達也 タツヤ 1 15 3
直樹 ナオキ 1 15 3
和也 カズヤ 1 14 3
哲也 テツヤ 2 14 1
剛 ツヨシ 2 12 1
雄一 ユウイチ 4 10 1
翔 ショウ 0 3 10
大翔 ヒロト 0 0 12
蓮 レン 0 0 14
陽翔 ハルト 0 0 12
湊 ミナト 0 0 10
悠真 ユウマ 0 0 10
樹 イツキ 0 1 10
蒼 アオイ 0 0 8
颯太 ソウタ 0 0 10
悠人 ユウト 0 0 9
陽向 ヒナタ 0 0 8
大和 ヤマト 0 0 8
拓海 タクミ 0 1 9
翼 ツバサ 0 2 7
亮 リョウ 0 5 6
"""

GIVEN_TABLE_FEMALE: Final = """
# kanji reading old mid new
幸子 サチコ 30 4 0
和子 カズコ 30 2 0
節子 セツコ 25 1 0
久子 ヒサコ 22 2 0
美智子 ミチコ 22 6 0
洋子 ヨウコ 20 8 0
恵子 ケイコ 18 12 0
京子 キョウコ 18 8 0
典子 ノリコ 12 12 0
順子 ジュンコ 14 10 0
文子 フミコ 22 1 0
春子 ハルコ 18 1 0
裕子 ユウコ 4 18 1
優子 ユウコ 2 14 3
陽子 ヨウコ 5 14 1
真由美 マユミ 1 14 1
智子 トモコ 3 18 1
久美子 クミコ 3 14 0
愛 アイ 0 8 8
彩 アヤ 0 6 6
美穂 ミホ 0 12 2
恵 メグミ 1 12 2
由美子 ユミコ 3 12 0
明美 アケミ 4 10 0
直美 ナオミ 2 12 0
陽葵 ヒマリ 0 0 12
凛 リン 0 0 10
結菜 ユイナ 0 0 10
葵 アオイ 0 0 10
芽依 メイ 0 0 10
結衣 ユイ 0 0 10
さくら サクラ 0 1 8
美咲 ミサキ 0 3 10
花 ハナ 0 0 8
紬 ツムギ 0 0 9
莉子 リコ 0 0 9
杏 アン 0 0 8
千尋 チヒロ 0 4 4
"""


# The long tail: surnames composed of a common first and second part (上田, 北川, 古沢 …),
# each with a small weight. The second part's reading after the first is voiced or not as
# listed (川 → ガワ); most results are real surnames, some are rare.
SURNAME_HEADS: Final = """
上 ウエ
下 シモ
中 ナカ
大 オオ
小 コ
西 ニシ
東 ヒガシ
北 キタ
南 ミナミ
今 イマ
古 フル
新 アラ
石 イシ
竹 タケ
松 マツ
杉 スギ
梅 ウメ
森 モリ
柳 ヤナギ
宮 ミヤ
福 フク
吉 ヨシ
長 ナガ
岩 イワ
浅 アサ
"""
SURNAME_TAILS: Final = """
田 ダ
川 カワ
山 ヤマ
野 ノ
村 ムラ
木 キ
井 イ
原 ハラ
島 シマ
沢 サワ
本 モト
岡 オカ
谷 タニ
口 グチ
内 ウチ
"""
TAIL_WEIGHT: Final = 12.0


@dataclass(frozen=True)
class Surname:
    kanji: Choice
    kana: Choice
    weight: float


# Composed given names (健太, 美香 …): first part × second part, weights per cohort.
GIVEN_HEADS_MALE: Final = (
    "健 ケン|大 ダイ|和 カズ|雄 ユウ|翔 ショウ|直 ナオ|拓 タク|浩 ヒロ|"
    "正 マサ|秀 ヒデ|智 トモ|康 ヤス|信 ノブ|達 タツ|裕 ユウ|陽 ハル"
)
GIVEN_TAILS_MALE: Final = (
    "太 タ|介 スケ|也 ヤ|一 イチ|樹 キ|人 ト|斗 ト|郎 ロウ|彦 ヒコ|志 シ|平 ヘイ|輝 キ"
)
GIVEN_HEADS_FEMALE: Final = (
    "美 ミ|由 ユ|真 マ|千 チ|奈 ナ|佳 カ|沙 サ|彩 アヤ|"
    "里 リ|春 ハル|明 アキ|亜 ア|早 サ|友 ユ|理 リ|夏 ナツ"
)
GIVEN_TAILS_FEMALE: Final = (
    "子 コ|美 ミ|香 カ|奈 ナ|代 ヨ|恵 エ|穂 ホ|紀 キ|菜 ナ|希 キ|乃 ノ|衣 イ"
)
# Weights by cohort for composed names: ～子 mostly before 1990, the others after 1955.
COMPOSED_WEIGHTS: Final = {"子": (2.0, 1.5, 0.3), "郎": (2.0, 0.8, 0.3)}
DEFAULT_COMPOSED: Final = (0.3, 1.2, 1.0)


@dataclass(frozen=True)
class GivenName:
    kanji: str
    kana: str
    weights: tuple[float, float, float]  # born before 1955, 1955–1989, from 1990


def surnames() -> list[Surname]:
    """The listed surnames, then the composed long tail (without the listed ones)."""
    listed = [
        Surname(parse_choice(kanji), parse_choice(kana), float(count))
        for kanji, kana, count in rows(SURNAMES_TABLE)
    ]
    known = {s.kanji.value for s in listed}
    tail = [
        Surname(Choice(head + part), Choice(head_kana + part_kana), TAIL_WEIGHT)
        for head, head_kana in rows(SURNAME_HEADS)
        for part, part_kana in rows(SURNAME_TAILS)
        if head + part not in known
    ]
    return listed + tail


def given_names(sex: str) -> list[GivenName]:
    """The listed given names, then the composed ones (without the listed)."""
    male = sex == "male"
    table = GIVEN_TABLE_MALE if male else GIVEN_TABLE_FEMALE
    listed = [
        GivenName(kanji, kana, (float(a), float(b), float(c)))
        for kanji, kana, a, b, c in rows(table)
    ]
    known = {g.kanji for g in listed} | {g.kana for g in listed}
    heads = _pairs(GIVEN_HEADS_MALE if male else GIVEN_HEADS_FEMALE)
    tails = _pairs(GIVEN_TAILS_MALE if male else GIVEN_TAILS_FEMALE)
    composed = []
    for head, head_kana in heads:
        for tail, tail_kana in tails:
            kanji, kana = head + tail, head_kana + tail_kana
            if head != tail and kanji not in known and kana not in known:
                known.add(kana)  # one spelling per reading keeps the weights honest
                composed.append(
                    GivenName(kanji, kana, COMPOSED_WEIGHTS.get(tail, DEFAULT_COMPOSED))
                )
    return listed + composed


def _pairs(spec: str) -> list[tuple[str, str]]:
    return [(item.split()[0], item.split()[1]) for item in spec.split("|")]


def cohort(birth_year: int) -> int:
    """The index into `GivenName.weights` for a birth year."""
    return 0 if birth_year < 1955 else 1 if birth_year < 1990 else 2
