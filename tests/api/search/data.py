"""A small, fixed Japanese clinical data set for the search tests.

Every id is unique across resource types, so tests can name results by id alone. The set is
loaded in three phases (see `conftest.py`):

1. `RESOURCES`, written in one transaction;
2. `DELETED`, deleted afterwards (they must never match, be chained through or be included);
3. `UPDATES`, written one by one after a recorded instant, so `_lastUpdated`, `_since` and
   `_sort=_lastUpdated` have something deterministic to find.

Names follow JP Core: a kanji name (iso21090-EN-representation `IDE`) and a kana name (`SYL`).
"""

from __future__ import annotations

import copy
from typing import Any

Resource = dict[str, Any]

# --- systems ------------------------------------------------------------------------------

MRN_TOKYO = "urn:oid:1.2.392.100495.20.3.51.11311234567"
MRN_OSAKA = "urn:oid:1.2.392.100495.20.3.51.12711234567"
MEMBER_ID = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
MEDICAL_LICENSE = "http://jpfhir.jp/fhir/core/IdSystem/medicallicense-number"
INSTITUTION_NO = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
JLAC10 = "urn:oid:1.2.392.200119.4.504"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"
HOT9 = "urn:oid:1.2.392.200119.4.403.1"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
COHORT = "http://tsunagu.example.jp/fhir/CodeSystem/cohort"
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
# Profile names for the `_profile` search tests, in a test namespace: the resources are not all
# JP Core conformant, and a claimed JP Core profile is validated on write.
JP_CORE = "http://tsunagu.example.jp/fhir/test/StructureDefinition/"
SOURCE_TOKYO = "http://tokyo-chuo.example.jp/ehr"
SOURCE_TOKYO_LAB = "http://tokyo-chuo.example.jp/ehr/lab"
SOURCE_OSAKA = "http://osaka-kita.example.jp/emr"


# --- building blocks ----------------------------------------------------------------------


def _meta(
    profile: str | None = None,
    *,
    tag: str | None = None,
    security: str | None = None,
    source: str | None = None,
) -> Resource:
    meta: Resource = {}
    if profile:
        meta["profile"] = [JP_CORE + profile]
    if tag:
        meta["tag"] = [{"system": COHORT, "code": tag}]
    if security:
        meta["security"] = [{"system": CONFIDENTIALITY, "code": security}]
    if source:
        meta["source"] = source
    return {"meta": meta} if meta else {}


def _name(family: str, given: str, representation: str, use: str = "official") -> Resource:
    return {
        "extension": [{"url": EN_REPRESENTATION, "valueCode": representation}],
        "use": use,
        "text": f"{family} {given}",
        "family": family,
        "given": [given],
    }


def _jp_names(kanji: tuple[str, str], kana: tuple[str, str]) -> list[Resource]:
    return [_name(*kanji, "IDE"), _name(*kana, "SYL")]


def _address(state: str, city: str, line: str, postal: str, use: str = "home") -> Resource:
    return {
        "use": use,
        "text": f"〒{postal} {state}{city}{line}",
        "line": [line],
        "city": city,
        "state": state,
        "postalCode": postal,
        "country": "JP",
    }


def _identifier(system: str, value: str, type_code: str | None = None) -> Resource:
    identifier: Resource = {"system": system, "value": value}
    if type_code:
        identifier["type"] = {"coding": [{"system": V2_0203, "code": type_code}]}
    return identifier


def _ref(target: str, display: str | None = None) -> Resource:
    ref: Resource = {"reference": target}
    if display:
        ref["display"] = display
    return ref


def _concept(*codings: tuple[str, str, str], text: str | None = None) -> Resource:
    concept: Resource = {"coding": [{"system": s, "code": c, "display": d} for s, c, d in codings]}
    if text:
        concept["text"] = text
    return concept


def _quantity(value: float, unit: str, code: str | None = None) -> Resource:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


# --- organizations and practitioners ------------------------------------------------------

ORGANIZATIONS: list[Resource] = [
    {
        "resourceType": "Organization",
        "id": "org-tokyo",
        **_meta("JP_Organization"),
        "identifier": [{"system": INSTITUTION_NO, "value": "1311234567"}],
        "active": True,
        "type": [_concept((ORG_TYPE, "prov", "Healthcare Provider"))],
        "name": "東京中央病院",
        "alias": ["中央病院"],
        "telecom": [{"system": "phone", "value": "03-3210-0000"}],
        "address": [_address("東京都", "千代田区", "丸の内１－１－１", "100-0005", "work")],
    },
    {
        "resourceType": "Organization",
        "id": "org-tokyo-naika",
        **_meta("JP_Organization"),
        "active": True,
        "type": [_concept((ORG_TYPE, "dept", "Hospital Department"))],
        "name": "東京中央病院 内科",
        "partOf": _ref("Organization/org-tokyo", "東京中央病院"),
    },
    {
        "resourceType": "Organization",
        "id": "org-osaka",
        **_meta("JP_Organization"),
        "identifier": [{"system": INSTITUTION_NO, "value": "2711234567"}],
        "active": True,
        "type": [_concept((ORG_TYPE, "prov", "Healthcare Provider"))],
        "name": "大阪北クリニック",
        "address": [_address("大阪府", "大阪市北区", "梅田３－３－３", "530-0001", "work")],
    },
    {
        "resourceType": "Organization",
        "id": "org-kyokai",
        "active": True,
        "type": [_concept((ORG_TYPE, "ins", "Insurance Company"))],
        "name": "全国健康保険協会 東京支部",
    },
]

PRACTITIONERS: list[Resource] = [
    {
        "resourceType": "Practitioner",
        "id": "prac-01",
        **_meta("JP_Practitioner"),
        "identifier": [{"system": MEDICAL_LICENSE, "value": "123456"}],
        "name": [
            *_jp_names(("佐藤", "一郎"), ("サトウ", "イチロウ")),
            # Romaji as printed on an English business card; the comma is part of the text.
            {"use": "usual", "text": "SATO, Ichiro"},
        ],
        "gender": "male",
    },
    {
        "resourceType": "Practitioner",
        "id": "prac-02",
        **_meta("JP_Practitioner"),
        "identifier": [{"system": MEDICAL_LICENSE, "value": "234567"}],
        "name": _jp_names(("鈴木", "花子"), ("スズキ", "ハナコ")),
        "gender": "female",
    },
    {
        "resourceType": "Practitioner",
        "id": "prac-03",
        **_meta("JP_Practitioner"),
        "identifier": [{"system": MEDICAL_LICENSE, "value": "345678"}],
        "name": _jp_names(("高橋", "誠"), ("タカハシ", "マコト")),
        "gender": "male",
    },
]

# --- patients -----------------------------------------------------------------------------


def _patient(
    id: str,
    kanji: tuple[str, str],
    kana: tuple[str, str],
    mrn: str,
    address: Resource,
    *,
    mrn_system: str = MRN_TOKYO,
    meta: Resource | None = None,
    **extra: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "Patient",
        "id": id,
        **(meta if meta is not None else _meta("JP_Patient", source=SOURCE_TOKYO)),
        "identifier": [_identifier(mrn_system, mrn, "MR")],
        "name": _jp_names(kanji, kana),
        "address": [address],
    }
    resource.update(extra)
    return resource


PATIENTS: list[Resource] = [
    _patient(
        "pat-01",
        ("山田", "太郎"),
        ("ヤマダ", "タロウ"),
        "00000001",
        _address("東京都", "新宿区", "西新宿２丁目８－１", "160-0023"),
        meta=_meta("JP_Patient", tag="cohort-dm", security="N", source=SOURCE_TOKYO),
        active=True,
        gender="male",
        birthDate="1970-01-15",
        telecom=[
            {"system": "phone", "value": "03-1234-5678", "use": "home"},
            {"system": "email", "value": "taro.yamada@example.jp"},
        ],
        managingOrganization=_ref("Organization/org-tokyo"),
        generalPractitioner=[_ref("Practitioner/prac-01")],
    ),
    _patient(
        "pat-02",
        ("山田", "花子"),
        ("ヤマダ", "ハナコ"),
        "00000002",
        _address("東京都", "新宿区", "西新宿２丁目８－１", "160-0023"),
        meta=_meta("JP_Patient", security="N", source=SOURCE_TOKYO),
        active=True,
        gender="female",
        birthDate="1972-03",
        telecom=[{"system": "phone", "value": "03-1234-5678", "use": "home"}],
        managingOrganization=_ref("Organization/org-tokyo"),
        generalPractitioner=[_ref("Practitioner/prac-02")],
    ),
    _patient(
        "pat-03",
        ("田中", "一郎"),
        ("タナカ", "イチロウ"),
        "00000001",
        _address("大阪府", "大阪市北区", "梅田１－１－１", "530-0001"),
        mrn_system=MRN_OSAKA,
        meta=_meta("JP_Patient", tag="cohort-dm", source=SOURCE_OSAKA),
        active=True,
        gender="male",
        birthDate="1985",
        telecom=[{"system": "phone", "value": "06-6123-4567", "use": "mobile"}],
        managingOrganization=_ref("Organization/org-osaka"),
    ),
    _patient(
        "pat-04",
        ("鈴木", "美咲"),
        ("スズキ", "ミサキ"),
        "00000004",
        _address("神奈川県", "横浜市西区", "みなとみらい２－２－１", "220-0012"),
        meta=_meta("JP_Patient", tag="import-2024", source=SOURCE_TOKYO),
        active=True,
        gender="female",
        birthDate="1990-07-20",
        telecom=[{"system": "email", "value": "misaki.suzuki@example.jp"}],
    ),
    _patient(
        "pat-05",
        ("高橋", "健太"),
        ("タカハシ", "ケンタ"),
        "00000005",
        _address("北海道", "札幌市中央区", "北１条西２丁目", "060-0001"),
        active=True,
        gender="male",
        birthDate="2001-12-31",
        managingOrganization=_ref("Organization/org-tokyo-naika"),
    ),
    _patient(
        "pat-06",
        ("伊藤", "さくら"),
        ("イトウ", "サクラ"),
        "00000006",
        _address("福岡県", "福岡市博多区", "博多駅前１－１", "812-0011"),
        active=True,
        gender="female",
        birthDate="2015-04-01",
        managingOrganization=_ref("Organization/org-tokyo"),
        generalPractitioner=[_ref("Practitioner/prac-02")],
    ),
    _patient(
        "pat-07",
        ("渡辺", "翔"),
        ("ワタナベ", "ショウ"),
        "00000007",
        _address("愛知県", "名古屋市中村区", "名駅１－１－４", "450-0002"),
        active=True,
        gender="male",
        birthDate="1948-02-29",
        generalPractitioner=[_ref("Practitioner/prac-01")],
    ),
    _patient(
        "pat-08",
        ("中村", "由美"),
        ("ナカムラ", "ユミ"),
        "00000008",
        _address("京都府", "京都市下京区", "東塩小路町", "600-8216"),
        active=True,
        gender="female",
        birthDate="1960-11-03",
        deceasedDateTime="2024-08-01T10:00:00+09:00",
        managingOrganization=_ref("Organization/org-tokyo"),
    ),
    _patient(
        "pat-09",
        ("秦", "大輔"),
        ("ハタ", "ダイスケ"),
        "00000009",
        _address("埼玉県", "さいたま市大宮区", "錦町", "330-0853"),
        meta=_meta("JP_Patient", security="R"),
        active=True,
        gender="other",
        birthDate="1995-05-05",
    ),
    _patient(
        "pat-10",
        ("山本", "武"),
        ("ヤマモト", "タケシ"),
        "00000010",
        _address("東京都", "八王子市", "旭町", "192-0083"),
        meta={},
        active=False,
    ),
    _patient(
        "pat-11",
        ("羽田", "真一"),
        ("ハダ", "シンイチ"),
        "00000011",
        _address("千葉県", "千葉市中央区", "新町", "260-0028"),
        meta=_meta("JP_Patient"),
        active=True,
        gender="male",
        birthDate="1983-06-15",
    ),
    {
        "resourceType": "Patient",
        "id": "pat-12",
        **_meta("JP_Patient", tag="import-2024"),
        "identifier": [_identifier(MRN_TOKYO, "00000012", "MR")],
        "name": [
            {
                "extension": [{"url": EN_REPRESENTATION, "valueCode": "ABC"}],
                "use": "official",
                "family": "Müller",
                "given": ["Anna"],
            },
            _name("ミュラー", "アンナ", "SYL"),
        ],
        "gender": "female",
        "birthDate": "1988-09-09",
        "address": [_address("東京都", "港区", "六本木６－１０－１", "106-0032")],
        "communication": [
            {"language": _concept(("urn:ietf:bcp:47", "de", "German"))},
            {"language": _concept(("urn:ietf:bcp:47", "ja", "Japanese"))},
        ],
    },
]

# The insurance member id (JP-CLINS) on two patients, with the identifier type MB.
PATIENTS[0]["identifier"].append(_identifier(MEMBER_ID, "06139876:東京1:12345:01", "MB"))
PATIENTS[2]["identifier"].append(_identifier(MEMBER_ID, "27001234:阪1:555:00", "MB"))

# A patient that is deleted after loading; its name would otherwise match `山田`.
DELETED_PATIENT = _patient(
    "pat-99",
    ("山田", "次郎"),
    ("ヤマダ", "ジロウ"),
    "00000099",
    _address("東京都", "新宿区", "西新宿２丁目８－１", "160-0023"),
    active=True,
    gender="male",
    birthDate="1999-09-09",
    managingOrganization=_ref("Organization/org-tokyo"),
    generalPractitioner=[_ref("Practitioner/prac-01")],
)

# --- observations -------------------------------------------------------------------------

HBA1C = (
    (JLAC10, "3D046000001906202", "HbA1c（NGSP）"),
    (LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
)
GLUCOSE = (
    (JLAC10, "3D010000001926101", "グルコース"),
    (LOINC, "2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
)
CGM = ((LOINC, "41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),)
WEIGHT = ((LOINC, "29463-7", "Body weight"),)
BP = ((LOINC, "85354-9", "Blood pressure panel with all children optional"),)
SYSTOLIC = ((LOINC, "8480-6", "Systolic blood pressure"),)
DIASTOLIC = ((LOINC, "8462-4", "Diastolic blood pressure"),)
TEMPERATURE = ((LOINC, "8310-5", "Body temperature"),)
HEART_RATE = ((LOINC, "8867-4", "Heart rate"),)


def _observation(
    id: str,
    patient: str,
    code: tuple[tuple[str, str, str], ...],
    text: str,
    *,
    category: str,
    status: str = "final",
    value: Resource | None = None,
    effective: str | Resource | None = None,
    performer: Resource | None = None,
    encounter: str | None = None,
    source: str | None = None,
    components: list[tuple[tuple[tuple[str, str, str], ...], Resource]] | None = None,
) -> Resource:
    profile = (
        "JP_Observation_LabResult" if category == "laboratory" else "JP_Observation_VitalSigns"
    )
    resource: Resource = {
        "resourceType": "Observation",
        "id": id,
        **_meta(profile, source=source),
        "status": status,
        "category": [_concept((OBS_CATEGORY, category, category))],
        "code": _concept(*code, text=text),
        "subject": _ref(f"Patient/{patient}"),
    }
    if encounter:
        resource["encounter"] = _ref(f"Encounter/{encounter}")
    if isinstance(effective, str):
        resource["effectiveDateTime"] = effective
    elif effective is not None:
        resource["effectivePeriod"] = effective
    if performer is not None:
        resource["performer"] = [performer]
    if value is not None:
        resource["valueQuantity"] = value
    if components:
        resource["component"] = [{"code": _concept(*c), "valueQuantity": v} for c, v in components]
    return resource


SATO = _ref("Practitioner/prac-01", "佐藤 一郎")
SUZUKI = _ref("Practitioner/prac-02", "鈴木 花子")
# A performer known only by a business identifier (the medical licence number of prac-03).
TAKAHASHI_BY_LICENSE: Resource = {
    "identifier": {"system": MEDICAL_LICENSE, "value": "345678"},
    "display": "高橋 誠",
}
MMHG = "mm[Hg]"

OBSERVATIONS: list[Resource] = [
    _observation(
        "obs-hba1c-01a",
        "pat-01",
        HBA1C,
        "HbA1c",
        category="laboratory",
        value=_quantity(6.5, "%"),
        effective="2024-04-01T10:00:00+09:00",
        performer=SATO,
        encounter="enc-01",
        source=SOURCE_TOKYO_LAB,
    ),
    _observation(
        "obs-hba1c-01b",
        "pat-01",
        HBA1C,
        "HbA1c",
        category="laboratory",
        value=_quantity(7.2, "%"),
        effective="2024-10-02T10:30:00+09:00",
        performer=SATO,
        encounter="enc-02",
        source=SOURCE_TOKYO_LAB,
    ),
    _observation(
        "obs-hba1c-03",
        "pat-03",
        HBA1C,
        "HbA1c",
        category="laboratory",
        value=_quantity(5.4, "%"),
        effective="2024-05-15T11:00:00+09:00",
        encounter="enc-04",
    ),
    # Ordered but not yet resulted: no value, no effective time.
    _observation(
        "obs-hba1c-08", "pat-08", HBA1C, "HbA1c", category="laboratory", status="registered"
    ),
    _observation(
        "obs-glucose-01",
        "pat-01",
        GLUCOSE,
        "空腹時血糖",
        category="laboratory",
        value=_quantity(126, "mg/dL"),
        effective="2024-04-01T10:00:00+09:00",
        performer=SATO,
        encounter="enc-01",
        source=SOURCE_TOKYO_LAB,
    ),
    _observation(
        "obs-glucose-04",
        "pat-04",
        GLUCOSE,
        "空腹時血糖",
        category="laboratory",
        value=_quantity(98, "mg/dL"),
        effective="2023-12-20T09:15:00+09:00",
    ),
    _observation(
        "obs-glucose-05",
        "pat-05",
        GLUCOSE,
        "空腹時血糖",
        category="laboratory",
        status="preliminary",
        value=_quantity(99.6, "mg/dL"),
        effective="2024-03-05T09:30:00+09:00",
    ),
    _observation(
        "obs-glucose-11",
        "pat-11",
        GLUCOSE,
        "随時血糖",
        category="laboratory",
        value=_quantity(100.5, "mg/dL"),
        effective="2024-03-06T14:00:00+09:00",
    ),
    # Continuous glucose monitoring that is still running: a Period with no end.
    _observation(
        "obs-cgm-04",
        "pat-04",
        CGM,
        "持続血糖測定",
        category="laboratory",
        status="preliminary",
        value=_quantity(142, "mg/dL"),
        effective={"start": "2024-09-01T10:00:00+09:00"},
    ),
    _observation(
        "obs-weight-01",
        "pat-01",
        WEIGHT,
        "体重",
        category="vital-signs",
        value=_quantity(68.2, "kg"),
        effective="2024-04-01T10:05:00+09:00",
        encounter="enc-01",
    ),
    _observation(
        "obs-weight-06",
        "pat-06",
        WEIGHT,
        "体重",
        category="vital-signs",
        value=_quantity(20.5, "kg"),
        effective="2024-02-03T20:10:00+09:00",
        encounter="enc-03",
    ),
    # 24-hour ambulatory blood pressure monitoring: a Period across two days.
    _observation(
        "obs-bp-01",
        "pat-01",
        BP,
        "24時間自由行動下血圧",
        category="vital-signs",
        effective={"start": "2024-06-10T10:00:00+09:00", "end": "2024-06-11T10:00:00+09:00"},
        performer=SATO,
        components=[
            (SYSTOLIC, _quantity(142, MMHG)),
            (DIASTOLIC, _quantity(91, MMHG)),
        ],
    ),
    _observation(
        "obs-bp-07",
        "pat-07",
        BP,
        "血圧",
        category="vital-signs",
        effective="2023-07-07T14:00:00+09:00",
        components=[
            (SYSTOLIC, _quantity(118, MMHG)),
            (DIASTOLIC, _quantity(76, MMHG)),
        ],
    ),
    _observation(
        "obs-temp-06a",
        "pat-06",
        TEMPERATURE,
        "体温",
        category="vital-signs",
        value=_quantity(37.5, "℃", "Cel"),
        effective="2024-02-03T20:00:00+09:00",
        performer=SUZUKI,
        encounter="enc-03",
    ),
    _observation(
        "obs-temp-06b",
        "pat-06",
        TEMPERATURE,
        "体温",
        category="vital-signs",
        value=_quantity(38.25, "℃", "Cel"),
        effective="2024-02-04T10:00:00+09:00",
        performer=SUZUKI,
    ),
    _observation(
        "obs-hr-02",
        "pat-02",
        HEART_RATE,
        "脈拍",
        category="vital-signs",
        status="amended",
        value=_quantity(72, "/min"),
        effective="2024-04-02T10:00:00+09:00",
        performer=TAKAHASHI_BY_LICENSE,
    ),
    # The subject of this one is deleted later; the Observation itself stays.
    _observation(
        "obs-weight-99",
        "pat-99",
        WEIGHT,
        "体重",
        category="vital-signs",
        value=_quantity(60, "kg"),
        effective="2024-05-01T10:00:00+09:00",
    ),
]

# Results about pat-11 written with absolute references: one to this server's own base (the
# same patient), one to another hospital's server that happens to use the same id (a
# different patient, who must not be confused with the local pat-11).
OTHER_SERVER = "https://other-hospital.example.jp/fhir"
URINE_GLUCOSE = ((LOINC, "5792-7", "Glucose [Mass/volume] in Urine by Test strip"),)
URINE_PROTEIN = ((LOINC, "5804-0", "Protein [Mass/volume] in Urine by Test strip"),)
OBSERVATIONS += [
    {
        **_observation(
            "obs-abs-11",
            "pat-11",
            URINE_GLUCOSE,
            "尿糖",
            category="laboratory",
            effective="2024-03-06T14:00:00+09:00",
        ),
        "subject": _ref("http://testserver/fhir/Patient/pat-11"),
        "valueString": "陰性",
    },
    {
        **_observation(
            "obs-ext-11",
            "pat-11",
            URINE_PROTEIN,
            "尿蛋白",
            category="laboratory",
            effective="2024-03-06T14:00:00+09:00",
        ),
        "subject": _ref(f"{OTHER_SERVER}/Patient/pat-11"),
        "valueString": "陰性",
    },
]

DELETED_OBSERVATION = _observation(
    "obs-weight-08",
    "pat-08",
    WEIGHT,
    "体重",
    category="vital-signs",
    value=_quantity(50, "kg"),
    effective="2024-07-01T10:00:00+09:00",
    performer=SUZUKI,
)

# --- conditions ---------------------------------------------------------------------------


def _condition(
    id: str,
    patient: str,
    code: Resource,
    *,
    clinical: str = "active",
    verification: str = "confirmed",
    category: str = "problem-list-item",
    asserter: str | None = None,
    encounter: str | None = None,
    meta: Resource | None = None,
    **extra: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "Condition",
        "id": id,
        **(meta or {}),
        "clinicalStatus": _concept((CONDITION_CLINICAL, clinical, clinical)),
        "verificationStatus": _concept((CONDITION_VERIFICATION, verification, verification)),
        "category": [_concept((CONDITION_CATEGORY, category, category))],
        "code": code,
        "subject": _ref(f"Patient/{patient}"),
    }
    if asserter:
        resource["asserter"] = _ref(f"Practitioner/{asserter}")
    if encounter:
        resource["encounter"] = _ref(f"Encounter/{encounter}")
    resource.update(extra)
    return resource


DIABETES = _concept((ICD10, "E11.9", "2型糖尿病，合併症なし"), text="2型糖尿病")
HYPERTENSION = _concept(
    (ICD10, "I10", "本態性（原発性＜一次性＞）高血圧（症）"), text="本態性高血圧症"
)

CONDITIONS: list[Resource] = [
    _condition(
        "cond-dm-01",
        "pat-01",
        DIABETES,
        asserter="prac-01",
        meta=_meta("JP_Condition", tag="cohort-dm"),
        onsetDateTime="2018-05",
        recordedDate="2018-05-20",
    ),
    _condition(
        "cond-htn-01",
        "pat-01",
        HYPERTENSION,
        asserter="prac-01",
        meta=_meta("JP_Condition"),
        onsetDateTime="2020-01-10",
    ),
    _condition(
        "cond-htn-07",
        "pat-07",
        HYPERTENSION,
        asserter="prac-01",
        onsetAge={"value": 60, "unit": "歳", "system": UCUM, "code": "a"},
    ),
    _condition(
        "cond-asthma-06",
        "pat-06",
        _concept((ICD10, "J45.9", "喘息，詳細不明"), text="気管支喘息"),
        clinical="resolved",
        onsetDateTime="2019",
        abatementDateTime="2023-03",
    ),
    _condition(
        "cond-flu-06",
        "pat-06",
        _concept((ICD10, "J10.1", "インフルエンザ，その他の呼吸器症状を伴うもの")),
        clinical="resolved",
        category="encounter-diagnosis",
        asserter="prac-02",
        encounter="enc-03",
        onsetDateTime="2024-02-03",
    ),
    _condition(
        "cond-dm-03",
        "pat-03",
        DIABETES,
        meta=_meta(tag="cohort-dm"),
        onsetPeriod={"start": "2022-01"},
    ),
    _condition(
        "cond-ckd-08",
        "pat-08",
        _concept((ICD10, "N18.3", "慢性腎臓病，ステージ3"), text="慢性腎臓病 ステージ3"),
        verification="provisional",
        onsetDateTime="2021-09-15T10:00:00+09:00",
    ),
    # Coded with text only (no Coding), onset known only as a phrase.
    _condition("cond-backpain-09", "pat-09", {"text": "腰痛症"}, onsetString="数年前から"),
]

# --- medication requests ------------------------------------------------------------------

METFORMIN = _concept((HOT9, "1124506010101", "メトホルミン塩酸塩錠２５０ｍｇ「トーワ」"))
AMLODIPINE = _concept((HOT9, "1109871020101", "アムロジピン錠５ｍｇ「サワイ」"))
GLIMEPIRIDE = _concept((HOT9, "1117543010101", "グリメピリド錠１ｍｇ「サワイ」"))
OSELTAMIVIR = _concept((HOT9, "1121006010101", "タミフルカプセル７５"))


def _medication_request(
    id: str,
    patient: str,
    medication: Resource,
    status: str,
    authored: str,
    *,
    intent: str = "order",
    requester: str | None = None,
    encounter: str | None = None,
    reason: str | None = None,
) -> Resource:
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "id": id,
        **_meta("JP_MedicationRequest"),
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": medication,
        "subject": _ref(f"Patient/{patient}"),
        "authoredOn": authored,
    }
    if encounter:
        resource["encounter"] = _ref(f"Encounter/{encounter}")
    if requester:
        resource["requester"] = _ref(f"Practitioner/{requester}")
    if reason:
        resource["reasonReference"] = [_ref(f"Condition/{reason}")]
    return resource


MEDICATION_REQUESTS: list[Resource] = [
    _medication_request(
        "medreq-01a",
        "pat-01",
        METFORMIN,
        "active",
        "2024-04-01T11:00:00+09:00",
        requester="prac-01",
        encounter="enc-01",
        reason="cond-dm-01",
    ),
    _medication_request(
        "medreq-01b",
        "pat-01",
        AMLODIPINE,
        "active",
        "2024-04-01T11:05:00+09:00",
        requester="prac-01",
        encounter="enc-01",
        reason="cond-htn-01",
    ),
    _medication_request(
        "medreq-01c", "pat-01", GLIMEPIRIDE, "stopped", "2022-10-15", requester="prac-01"
    ),
    _medication_request(
        "medreq-06",
        "pat-06",
        OSELTAMIVIR,
        "completed",
        "2024-02-03T21:00:00+09:00",
        requester="prac-02",
        encounter="enc-03",
        reason="cond-flu-06",
    ),
    _medication_request(
        "medreq-03",
        "pat-03",
        METFORMIN,
        "cancelled",
        "2024-05-15T11:30:00+09:00",
        intent="proposal",
        encounter="enc-04",
    ),
    _medication_request(
        "medreq-07",
        "pat-07",
        AMLODIPINE,
        "on-hold",
        "2023-07-07T14:30:00+09:00",
        requester="prac-01",
    ),
]

# --- allergies ----------------------------------------------------------------------------


def _allergy(
    id: str,
    patient: str,
    code: Resource,
    *,
    category: str,
    criticality: str,
    clinical: str = "active",
    kind: str = "allergy",
    **extra: Any,
) -> Resource:
    return {
        "resourceType": "AllergyIntolerance",
        "id": id,
        **_meta("JP_AllergyIntolerance"),
        "clinicalStatus": _concept((ALLERGY_CLINICAL, clinical, clinical)),
        "type": kind,
        "category": [category],
        "criticality": criticality,
        "code": code,
        "patient": _ref(f"Patient/{patient}"),
        **extra,
    }


ALLERGIES: list[Resource] = [
    _allergy(
        "allergy-01",
        "pat-01",
        _concept(
            (SNOMED, "373270004", "Penicillin -class of antibiotic-"), text="ペニシリン系抗菌薬"
        ),
        category="medication",
        criticality="high",
        recordedDate="2010-04-01",
        recorder=_ref("Practitioner/prac-01"),
        reaction=[{"manifestation": [_concept((SNOMED, "126485001", "蕁麻疹"))]}],
    ),
    _allergy(
        "allergy-04",
        "pat-04",
        {"text": "そば"},
        category="food",
        criticality="high",
        onsetDateTime="1995",
        reaction=[{"manifestation": [_concept((SNOMED, "39579001", "アナフィラキシー"))]}],
    ),
    _allergy(
        "allergy-06",
        "pat-06",
        _concept((SNOMED, "102263004", "Eggs (edible)"), text="鶏卵"),
        category="food",
        criticality="low",
        clinical="resolved",
        recordedDate="2016-08-01",
    ),
    _allergy(
        "allergy-09",
        "pat-09",
        {"text": "ロキソプロフェン"},
        category="medication",
        criticality="unable-to-assess",
        clinical="inactive",
        kind="intolerance",
    ),
]

# --- encounters ---------------------------------------------------------------------------


def _encounter(
    id: str,
    patient: str,
    klass: str,
    status: str,
    period: Resource,
    provider: str,
    practitioner: str | None = None,
    **extra: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "Encounter",
        "id": id,
        **_meta("JP_Encounter"),
        "status": status,
        "class": {"system": ACT_CODE, "code": klass},
        "subject": _ref(f"Patient/{patient}"),
        "period": period,
        "serviceProvider": _ref(f"Organization/{provider}"),
        **extra,
    }
    if practitioner:
        resource["participant"] = [{"individual": _ref(f"Practitioner/{practitioner}")}]
    return resource


ENCOUNTERS: list[Resource] = [
    _encounter(
        "enc-01",
        "pat-01",
        "AMB",
        "finished",
        {"start": "2024-04-01T09:30:00+09:00", "end": "2024-04-01T11:30:00+09:00"},
        "org-tokyo",
        "prac-01",
    ),
    _encounter(
        "enc-02",
        "pat-01",
        "IMP",
        "finished",
        {"start": "2024-10-01T10:00:00+09:00", "end": "2024-10-08T11:00:00+09:00"},
        "org-tokyo",
        "prac-01",
        length={"value": 7, "unit": "日", "system": UCUM, "code": "d"},
    ),
    _encounter(
        "enc-03",
        "pat-06",
        "EMER",
        "finished",
        {"start": "2024-02-03T19:30:00+09:00", "end": "2024-02-03T23:00:00+09:00"},
        "org-osaka",
        "prac-02",
    ),
    _encounter(
        "enc-04",
        "pat-03",
        "AMB",
        "in-progress",
        {"start": "2024-05-15T10:00:00+09:00"},
        "org-osaka",
    ),
    _encounter(
        "enc-05",
        "pat-07",
        "AMB",
        "planned",
        {"start": "2030-03-02T10:00:00+09:00", "end": "2030-03-02T10:30:00+09:00"},
        "org-tokyo",
        "prac-01",
    ),
]

# --- risk assessments (the `number` parameter `probability`) ------------------------------


def _risk(id: str, patient: str, probability: float, occurrence: str) -> Resource:
    return {
        "resourceType": "RiskAssessment",
        "id": id,
        "status": "final",
        "subject": _ref(f"Patient/{patient}"),
        "occurrenceDateTime": occurrence,
        "method": {"text": "吹田スコア"},
        "prediction": [
            {"outcome": {"text": "10年以内の冠動脈疾患発症"}, "probabilityDecimal": probability}
        ],
    }


RISK_ASSESSMENTS: list[Resource] = [
    _risk("risk-01", "pat-01", 0.12, "2024-04-01"),
    _risk("risk-07", "pat-07", 0.125, "2023-07-07"),
    _risk("risk-03", "pat-03", 0.3, "2024-05-15"),
    _risk("risk-05", "pat-05", 0.02, "2024-03-05"),
]

# --- the phases ---------------------------------------------------------------------------

RESOURCES: list[Resource] = [
    *ORGANIZATIONS,
    *PRACTITIONERS,
    *PATIENTS,
    DELETED_PATIENT,
    *ENCOUNTERS,
    *CONDITIONS,
    *OBSERVATIONS,
    DELETED_OBSERVATION,
    *MEDICATION_REQUESTS,
    *ALLERGIES,
    *RISK_ASSESSMENTS,
]

DELETED: list[str] = ["Observation/obs-weight-08", "Patient/pat-99"]


def _updated(resource: Resource, **changes: Any) -> Resource:
    result = copy.deepcopy(resource)
    result.update(changes)
    return result


def _by_id(id: str) -> Resource:
    return next(r for r in RESOURCES if r["id"] == id)


# Written one at a time, in this order, after `since` was recorded.
UPDATES: list[Resource] = [
    _updated(_by_id("allergy-01"), note=[{"text": "2024年に再確認"}]),
    _updated(_by_id("obs-temp-06b"), note=[{"text": "解熱剤投与後に再検"}]),
    _updated(
        _by_id("pat-06"),
        telecom=[{"system": "email", "value": "ito.family@example.jp", "use": "home"}],
    ),
]
UPDATED_IDS = [r["id"] for r in UPDATES]

LIVE_PATIENTS = [p["id"] for p in PATIENTS]
