"""The demo data set: a small Japanese clinic's patients, as one idempotent transaction.

Every entry is a conditional create on its identifier, so loading the set again finds the
resources already there and writes nothing new. Names, numbers and facilities are invented.
"""

from __future__ import annotations

from typing import Any

FACILITY_CODE = "1312345678"  # 医療機関コード (10 digits), invented
DEMO = "urn:tsunagu:demo"
PATIENT_ID_SYSTEM = f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY_CODE}"
MEMBER_ID_SYSTEM = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
ICD10 = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"
GENERIC_DRUG = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationGeneralOrderCode"
CHECKUP_ITEM = "urn:oid:1.2.392.200119.6.1005"

# (id, kanji family, kanji given, kana family, kana given, sex, birth date, member id)
PATIENTS = [
    ("p1", "山田", "太郎", "ヤマダ", "タロウ", "male", "1958-04-12", "06139999:記号1:10001:00"),
    ("p2", "佐藤", "花子", "サトウ", "ハナコ", "female", "1972-11-03", "06139999:記号1:10002:01"),
    ("p3", "髙橋", "優子", "タカハシ", "ユウコ", "female", "1990-07-21", "138057:記号2:20003:00"),
    ("p4", "鈴木", "一郎", "スズキ", "イチロウ", "male", "1940-01-30", "39131005:記号3:30004:00"),
]


def demo_bundle() -> dict[str, Any]:
    """A transaction Bundle with the demo clinic, its doctor, patients and their records."""
    entries = [_clinic(), _clinic_site(), _doctor()]
    for pid, family, given, kana_family, kana_given, sex, birth, member in PATIENTS:
        entries.append(_patient(pid, family, given, kana_family, kana_given, sex, birth, member))
    entries += [
        _condition("c1", "p1", "I10", "本態性高血圧症"),
        _condition("c2", "p1", "E11.9", "2型糖尿病"),
        _condition("c3", "p4", "J44.9", "慢性閉塞性肺疾患"),
        _observation("o1", "p1", "9N001000000000001", "身長", 168.2, "cm", "2026-10-01"),
        _observation("o2", "p1", "9N006000000000001", "体重", 71.5, "kg", "2026-10-01"),
        _observation("o3", "p2", "9N001000000000001", "身長", 155.0, "cm", "2026-09-15"),
        _medication("m1", "p1", "2171022F1ZZZ", "【般】アムロジピン錠２．５ｍｇ", 1),
        _allergy("a1", "p2", "ペニシリン系抗菌薬"),
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _entry(kind: str, key: str, resource: dict[str, Any]) -> dict[str, Any]:
    identifier = f"{DEMO}|{kind}-{key}"
    resource.setdefault("identifier", []).append({"system": DEMO, "value": f"{kind}-{key}"})
    return {
        "fullUrl": f"{DEMO}:{kind}:{key}",
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": f"identifier={identifier}",
        },
    }


def _ref(kind: str, key: str) -> dict[str, str]:
    return {"reference": f"{DEMO}:{kind}:{key}"}


def _clinic() -> dict[str, Any]:
    return _entry(
        "org",
        "clinic",
        {
            "resourceType": "Organization",
            "identifier": [
                {
                    "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no",
                    "value": FACILITY_CODE,
                }
            ],
            "name": "つなぐ内科クリニック",
            "address": [{"text": "東京都千代田区丸の内一丁目1番1号", "postalCode": "100-0005"}],
        },
    )


def _clinic_site() -> dict[str, Any]:
    """Where the clinic is, so that `Location?near=35.6812|139.7671|1|km` finds it."""
    return _entry(
        "loc",
        "clinic",
        {
            "resourceType": "Location",
            "status": "active",
            "name": "つなぐ内科クリニック 本院",
            "address": {"text": "東京都千代田区丸の内一丁目1番1号", "postalCode": "100-0005"},
            "position": {"latitude": 35.6812, "longitude": 139.7671},
            "managingOrganization": _ref("org", "clinic"),
        },
    )


def _doctor() -> dict[str, Any]:
    return _entry(
        "prac",
        "doctor",
        {
            "resourceType": "Practitioner",
            "name": [{"family": "中村", "given": ["健"], "text": "中村 健"}],
            "qualification": [{"code": {"text": "医師"}}],
        },
    )


def _patient(
    pid: str,
    family: str,
    given: str,
    kana_family: str,
    kana_given: str,
    sex: str,
    birth: str,
    member: str,
) -> dict[str, Any]:
    return _entry(
        "patient",
        pid,
        {
            "resourceType": "Patient",
            "identifier": [
                {"system": PATIENT_ID_SYSTEM, "value": pid.upper().replace("P", "000")},
                {"system": MEMBER_ID_SYSTEM, "value": member},
            ],
            "name": [
                {
                    "extension": [{"url": REPRESENTATION, "valueCode": "IDE"}],
                    "use": "official",
                    "text": f"{family} {given}",
                    "family": family,
                    "given": [given],
                },
                {
                    "extension": [{"url": REPRESENTATION, "valueCode": "SYL"}],
                    "use": "official",
                    "text": f"{kana_family} {kana_given}",
                    "family": kana_family,
                    "given": [kana_given],
                },
            ],
            "gender": sex,
            "birthDate": birth,
            "managingOrganization": _ref("org", "clinic"),
        },
    )


def _condition(key: str, pid: str, icd10: str, name: str) -> dict[str, Any]:
    return _entry(
        "condition",
        key,
        {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": ICD10, "code": icd10, "display": name}], "text": name},
            "subject": _ref("patient", pid),
            "recorder": _ref("prac", "doctor"),
        },
    )


def _observation(
    key: str, pid: str, code: str, name: str, value: float, unit: str, when: str
) -> dict[str, Any]:
    return _entry(
        "observation",
        key,
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": CHECKUP_ITEM, "code": code, "display": name}]},
            "subject": _ref("patient", pid),
            "effectiveDateTime": when,
            "valueQuantity": {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        },
    )


def _medication(key: str, pid: str, code: str, name: str, tablets: int) -> dict[str, Any]:
    return _entry(
        "medreq",
        key,
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": GENERIC_DRUG, "code": code, "display": name}],
                "text": name,
            },
            "subject": _ref("patient", pid),
            "requester": _ref("prac", "doctor"),
            "dosageInstruction": [{"text": f"1日1回 朝食後 {tablets}錠"}],
        },
    )


def _allergy(key: str, pid: str, substance: str) -> dict[str, Any]:
    return _entry(
        "allergy",
        key,
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {  # required by ait-1 unless entered in error
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "category": ["medication"],
            "criticality": "high",
            "code": {"text": substance},
            "patient": _ref("patient", pid),
        },
    )
