"""Simple clinical histories: diagnoses, prescriptions, allergies and lab results.

Codes are real, taken from the 支払基金 masters (傷病名マスター 2024-06: 傷病名コード, MEDIS
病名管理番号, ICD-10 2013; 医薬品マスター 2024-03: 薬価基準収載医薬品コード (YJ) and 一般名コード)
and from the JP Core / 特定健診 JLAC10 code lists. Prevalences are rough figures for adults by age
(approximate, for realism only), and values are drawn around plausible ranges.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from tsunagu.identity.synthetic.tables import rows

JP_CORE: Final = "http://jpfhir.jp/fhir/core/StructureDefinition/"
DISEASE_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/masterB-disease"
MEDIS_KEY_SYSTEM: Final = "http://medis.or.jp/CodeSystem/master-disease-keyNumber"
ICD10_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"
YJ_SYSTEM: Final = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code"
GENERIC_SYSTEM: Final = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationGeneralOrderCode"
JLAC10_SYSTEM: Final = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits"
LAB_CATEGORY_SYSTEM: Final = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
FOOD_ALLERGEN_SYSTEM: Final = "http://jpfhir.jp/fhir/core/CodeSystem/JP_JfagyFoodAllergen_CS"
UCUM: Final = "http://unitsofmeasure.org"

# 傷病名コード 名称 病名管理番号 ICD-10 最少年齢 有病率(‰, 該当年齢) 処方(YJ の行番号, `-` なし)
DISEASES_TABLE: Final = """
8833421 高血圧症 20061593 I10 30 250 amlodipine,candesartan
8844446 脂質異常症 20091221 E785 30 180 atorvastatin
2500015 ２型糖尿病 20050020 E11 30 90 metformin
4779004 アレルギー性鼻炎 20051094 J304 3 120 fexofenadine
4770002 花粉症 20055627 J301 5 150 fexofenadine
4939008 気管支喘息 20057913 J459 2 50 montelukast
5301002 逆流性食道炎 20058108 K210 30 60 lansoprazole
7330006 骨粗鬆症 20061958 M8199 60 120 alendronate
8839792 不眠症 20075175 G470 20 60 zolpidem
7153018 変形性膝関節症 20075847 M171 50 100 loxoprofen
7906015 高尿酸血症 20061658 E790 30 50 febuxostat
4273006 心房細動 20065610 I489 60 30 warfarin
8844106 慢性腎臓病 20090165 N189 50 60 -
8842618 認知症 20087294 F03 75 120 donepezil
8840042 便秘症 20075903 K590 40 80 magnesium
8836591 前立腺肥大症 20068243 N40 55 80 tamsulosin
4659007 急性上気道炎 20058435 J069 0 40 -
"""

# key YJ 一般名コード 名称 1日量 用法
DRUGS_TABLE: Final = """
amlodipine 2171022F3013 2171022F3ZZZ アムロジピンＯＤ錠２．５ｍｇ「トーワ」 1 1日1回朝食後
candesartan 2149040F1018 2149040F1ZZZ カンデサルタン錠２ｍｇ「あすか」 1 1日1回朝食後
atorvastatin 2189015F1015 2189015F1ZZZ アトルバスタチン錠５ｍｇ「サワイ」 1 1日1回夕食後
metformin 3962002F1110 3962002F1ZZZ メトホルミン塩酸塩錠２５０ｍｇ「ＳＮ」 2 1日2回朝夕食後
fexofenadine 4490023F2136 4490023F2ZZZ フェキソフェナジン塩酸塩錠３０ｍｇ「ＺＥ」 2 1日2回朝夕食後
montelukast 4490026F3047 4490026F3ZZZ モンテルカスト錠５ｍｇ「ＫＭ」 1 1日1回就寝前
lansoprazole 2329023M1011 2329023M1ZZZ ランソプラゾールカプセル１５ｍｇ「アメル」 1 1日1回朝食後
alendronate 3999018F1056 3999018F1ZZZ アレンドロン酸錠５ｍｇ「ＳＮ」 1 1日1回起床時
zolpidem 1129009F1017 1129009F1ZZZ ゾルピデム酒石酸塩錠５ｍｇ「明治」 1 1日1回就寝前
loxoprofen 1149019F1013 1149019F1ZZZ ロキソプロフェン錠６０ｍｇ「ＥＭＥＣ」 3 1日3回毎食後
febuxostat 3949003F4014 3949003F4ZZZ フェブキソスタットＯＤ錠１０ｍｇ「ＮＰＩ」 1 1日1回朝食後
warfarin 3332001F3019 - ワルファリンカリウム錠０．５ｍｇ 2 1日1回朝食後
donepezil 1190012F1131 1190012F1ZZZ ドネペジル塩酸塩錠３ｍｇ「オーハラ」 1 1日1回朝食後
magnesium 2344009F1019 2344009F1ZZZ 酸化マグネシウム錠２５０ｍｇ「ＴＸ」 3 1日3回毎食後
tamsulosin 2590008N1225 2590008N1ZZZ タムスロシン塩酸塩カプセル０．１ｍｇ「武田テバ」 1 1日1回朝食後
"""

# JLAC10 名称 単位 平均 標準偏差 (for adults; rough)
LABS_TABLE: Final = """
3D046000001806202 HbA1c(NGSP) % 5.8 0.7
3D010000001926101 空腹時血糖 mg/dL 100 18
3F077000002327101 LDLコレステロール mg/dL 120 30
3F070000002327101 HDLコレステロール mg/dL 60 15
3F015000002327101 中性脂肪 mg/dL 120 60
3C015000002327101 血清クレアチニン mg/dL 0.85 0.2
3B035000002327201 AST(GOT) U/L 24 8
3B045000002327201 ALT(GPT) U/L 22 10
3C020000002327101 血清尿酸 mg/dL 5.5 1.3
"""


@dataclass(frozen=True)
class Disease:
    code: str
    name: str
    medis: str
    icd10: str
    min_age: int
    per_mille: int
    drugs: tuple[str, ...]


@dataclass(frozen=True)
class Drug:
    key: str
    yj: str
    generic: str
    name: str
    daily: int
    usage: str


@dataclass(frozen=True)
class Lab:
    code: str
    name: str
    unit: str
    mean: float
    sd: float


DISEASES: Final = [
    Disease(c, n, m, i, int(a), int(p), tuple(d.split(",")) if d != "-" else ())
    for c, n, m, i, a, p, d in rows(DISEASES_TABLE)
]
DRUGS: Final = {k: Drug(k, y, g, n, int(d), u) for k, y, g, n, d, u in rows(DRUGS_TABLE)}
LABS: Final = [Lab(c, n, u, float(m), float(s)) for c, n, u, m, s in rows(LABS_TABLE)]


def history(rng: random.Random, patient_id: str, birth: date, today: date) -> list[dict[str, Any]]:
    """Conditions with their prescriptions, an allergy now and then, and a few lab results."""
    age = (today - birth).days // 365
    out: list[dict[str, Any]] = []
    for disease in DISEASES:
        if age < disease.min_age or rng.random() * 1000 >= disease.per_mille:
            continue
        onset = _between(rng, max(birth + timedelta(days=365 * disease.min_age), birth), today)
        index = len(out)
        out.append(_condition(f"{patient_id}-c{index}", patient_id, disease, onset))
        for n, key in enumerate(disease.drugs[:1] if rng.random() < 0.7 else disease.drugs):
            authored = _between(rng, onset, today)
            out.append(_medication(f"{patient_id}-m{index}{n}", patient_id, DRUGS[key], authored))
    if rng.random() < 0.08:
        out.append(_allergy(f"{patient_id}-a0", patient_id, rng, birth, today))
    if age >= 20 and rng.random() < 0.6:
        taken = _between(rng, max(birth, today - timedelta(days=730)), today)
        for n, lab in enumerate(rng.sample(LABS, k=rng.randint(1, 4))):
            out.append(_lab(f"{patient_id}-o{n}", patient_id, lab, rng, taken))
    return out


def _between(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _subject(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def condition_status(category: str) -> dict[str, Any]:
    """A Condition's clinicalStatus (active), verificationStatus (confirmed) and one category.

    Spread into a Condition (`**condition_status("encounter-diagnosis")`); `category` is a code
    of `condition-category` (`problem-list-item`, `encounter-diagnosis`).
    """
    return {
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": category,
                    }
                ]
            }
        ],
    }


def disease_code(medis: str, name: str, *more: dict[str, str]) -> dict[str, Any]:
    """A Condition.code: the MEDIS 病名管理番号 coding, any `more` codings, and `name` as text."""
    return {
        "coding": [{"system": MEDIS_KEY_SYSTEM, "code": medis, "display": name}, *more],
        "text": name,
    }


def lab_category() -> list[dict[str, Any]]:
    """An Observation.category of JP Core's simple category `laboratory` (a new list each call)."""
    return [{"coding": [{"system": LAB_CATEGORY_SYSTEM, "code": "laboratory"}]}]


def _condition(rid: str, pid: str, disease: Disease, onset: date) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "meta": {"profile": [JP_CORE + "JP_Condition"]},
        **condition_status("problem-list-item"),
        "code": disease_code(
            disease.medis,
            disease.name,
            {"system": DISEASE_SYSTEM, "code": disease.code, "display": disease.name},
            {"system": ICD10_SYSTEM, "code": disease.icd10},
        ),
        "subject": _subject(pid),
        "onsetDateTime": onset.isoformat(),
        "recordedDate": onset.isoformat(),
    }


def _medication(rid: str, pid: str, drug: Drug, authored: date) -> dict[str, Any]:
    codings = [{"system": YJ_SYSTEM, "code": drug.yj, "display": drug.name}]
    if drug.generic != "-":
        codings.append({"system": GENERIC_SYSTEM, "code": drug.generic})
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "meta": {"profile": [JP_CORE + "JP_MedicationRequest"]},
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": codings, "text": drug.name},
        "subject": _subject(pid),
        "authoredOn": authored.isoformat(),
        "dosageInstruction": [
            {
                "text": drug.usage,
                "doseAndRate": [{"doseQuantity": {"value": drug.daily, "unit": "錠"}}],
            }
        ],
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": 28, "unit": "日", "system": UCUM, "code": "d"}
        },
    }


def _allergy(rid: str, pid: str, rng: random.Random, birth: date, today: date) -> dict[str, Any]:
    if rng.random() < 0.5:
        category, code = (
            "food",
            {
                "coding": [
                    {"system": FOOD_ALLERGEN_SYSTEM, "code": "J9FC11310000", "display": "さば"}
                ],
                "text": "さば",
            },
        )
    else:
        category, code = "medication", {"text": "ペニシリン系抗菌薬"}
    return {
        "resourceType": "AllergyIntolerance",
        "id": rid,
        "meta": {"profile": [JP_CORE + "JP_AllergyIntolerance"]},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "type": "allergy",
        "category": [category],
        "code": code,
        "patient": _subject(pid),
        "recordedDate": _between(rng, birth, today).isoformat(),
    }


def _lab(rid: str, pid: str, lab: Lab, rng: random.Random, taken: date) -> dict[str, Any]:
    value = max(lab.mean * 0.2, rng.gauss(lab.mean, lab.sd))
    digits = 2 if lab.mean < 10 else 0
    return {
        "resourceType": "Observation",
        "id": rid,
        "meta": {"profile": [JP_CORE + "JP_Observation_LabResult"]},
        "status": "final",
        "category": lab_category(),
        "code": {"coding": [{"system": JLAC10_SYSTEM, "code": lab.code, "display": lab.name}]},
        "subject": _subject(pid),
        "effectiveDateTime": taken.isoformat(),
        "valueQuantity": {
            "value": round(value, digits) if digits else round(value),
            "unit": lab.unit,
            "system": UCUM,
            "code": lab.unit,
        },
    }
