"""A synthetic patient population for the search benchmark (deterministic per seed).

Each patient is a JP Core-flavoured Patient (kanji and kana names, prefecture and postal code,
a hospital patient-number identifier) followed by five years (2020-2024) of outpatient visits:
every visit is an Encounter with one to three Observations (vital signs, or laboratory results
coded in JLAC10 and LOINC), sometimes a MedicationRequest, and a Condition (ICD-10) at the
first visit (rarely at later ones). Most patients have one to three visits; one in a hundred
is a chronic patient seen about monthly (30-60 visits, ~150 resources), so that
`Patient/$everything` has several pages to return. On average a patient has about ten
resources.

Every patient has its own random generator, seeded from the run's seed and its number, so a
patient's record does not depend on how the population is split into load sessions, and the
size of the population can be counted without generating it (`count_resources`).

Codes are realistic in form; the JLAC10 and HOT codes are illustrative, not a terminology.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bench.data import new_id

PATIENT_ID_SYSTEM = "urn:oid:1.2.392.100495.20.3.51.11312345678"
LOINC = "http://loinc.org"
JLAC10 = "urn:oid:1.2.392.200119.4.504"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
HOT9 = "urn:oid:1.2.392.200119.4.403.1"
UCUM = "http://unitsofmeasure.org"
_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
JST = timezone(timedelta(hours=9))
FIRST_DAY = date(2020, 1, 1)
DAYS = (date(2024, 12, 31) - FIRST_DAY).days + 1  # five years of clinical data
CHRONIC_SHARE = 0.01

FAMILY = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
]
GIVEN = [
    ("太郎", "タロウ", "male"),
    ("花子", "ハナコ", "female"),
    ("一郎", "イチロウ", "male"),
    ("美咲", "ミサキ", "female"),
    ("健太", "ケンタ", "male"),
    ("陽菜", "ヒナ", "female"),
    ("翔太", "ショウタ", "male"),
    ("結衣", "ユイ", "female"),
    ("大輔", "ダイスケ", "male"),
    ("葵", "アオイ", "female"),
    ("拓也", "タクヤ", "male"),
    ("さくら", "サクラ", "female"),
    ("直樹", "ナオキ", "male"),
    ("愛", "アイ", "female"),
    ("誠", "マコト", "male"),
    ("彩", "アヤ", "female"),
    ("浩二", "コウジ", "male"),
    ("恵子", "ケイコ", "female"),
    ("修", "オサム", "male"),
    ("幸子", "サチコ", "female"),
    ("隆", "タカシ", "male"),
    ("裕子", "ユウコ", "female"),
    ("亮", "リョウ", "male"),
    ("真由美", "マユミ", "female"),
    ("和也", "カズヤ", "male"),
    ("明美", "アケミ", "female"),
    ("悠斗", "ユウト", "male"),
    ("由美", "ユミ", "female"),
    ("蓮", "レン", "male"),
    ("凛", "リン", "female"),
]
# (prefecture, city, postal code)
PLACES = [
    ("北海道", "札幌市中央区", "060-0001"),
    ("宮城県", "仙台市青葉区", "980-0811"),
    ("東京都", "新宿区", "160-0023"),
    ("東京都", "世田谷区", "154-0017"),
    ("神奈川県", "横浜市西区", "220-0011"),
    ("埼玉県", "さいたま市浦和区", "330-0063"),
    ("千葉県", "千葉市中央区", "260-0013"),
    ("愛知県", "名古屋市中区", "460-0008"),
    ("京都府", "京都市中京区", "604-8005"),
    ("大阪府", "大阪市北区", "530-0001"),
    ("兵庫県", "神戸市中央区", "650-0021"),
    ("広島県", "広島市中区", "730-0011"),
    ("福岡県", "福岡市博多区", "812-0011"),
    ("沖縄県", "那覇市", "900-0015"),
]


@dataclass(frozen=True)
class Test:
    """An Observation kind: LOINC code, optional JLAC10 code, unit, plausible value range."""

    loinc: str
    display: str
    unit: str
    low: float
    high: float
    jlac10: str | None = None
    # Blood pressure: (LOINC, display, low, high) per component instead of one value.
    components: tuple[tuple[str, str, float, float], ...] = ()

    @property
    def category(self) -> str:
        return "laboratory" if self.jlac10 else "vital-signs"

    @property
    def token(self) -> str:
        """The `code` search value that finds it."""
        return f"{LOINC}|{self.loinc}"


VITALS = [
    Test("29463-7", "Body weight", "kg", 40.0, 95.0),
    Test("8302-2", "Body height", "cm", 145.0, 190.0),
    Test("8867-4", "Heart rate", "/min", 50.0, 110.0),
    Test("8310-5", "Body temperature", "Cel", 35.5, 38.5),
    Test(
        "85354-9",
        "Blood pressure panel with all children optional",
        "mm[Hg]",
        0.0,
        0.0,
        components=(
            ("8480-6", "Systolic blood pressure", 100.0, 170.0),
            ("8462-4", "Diastolic blood pressure", 55.0, 105.0),
        ),
    ),
]
LABS = [
    Test("4548-4", "HbA1c", "%", 4.6, 9.5, "3D046000001906202"),
    Test("2345-7", "Glucose", "mg/dL", 70.0, 220.0, "3D010000002227101"),
    Test("13457-7", "LDL cholesterol", "mg/dL", 60.0, 200.0, "3F077000002327101"),
    Test("2160-0", "Creatinine", "mg/dL", 0.4, 2.5, "3C015000002327101"),
    Test("1920-8", "AST", "U/L", 10.0, 80.0, "3B035000002327201"),
    Test("1742-6", "ALT", "U/L", 5.0, 90.0, "3B045000002327201"),
]
TESTS = VITALS + LABS
CONDITIONS = [
    ("E11.9", "2型糖尿病"),
    ("I10", "本態性高血圧症"),
    ("E78.5", "脂質異常症"),
    ("J45.9", "気管支喘息"),
    ("K21.9", "逆流性食道炎"),
    ("M54.5", "腰痛症"),
    ("F32.9", "うつ病"),
    ("N18.3", "慢性腎臓病ステージ3"),
    ("J30.4", "アレルギー性鼻炎"),
    ("K29.7", "胃炎"),
    ("E03.9", "甲状腺機能低下症"),
    ("G43.9", "片頭痛"),
]
MEDICATIONS = [
    ("103835401", "メトホルミン塩酸塩錠250mg"),
    ("104198201", "アムロジピン錠5mg"),
    ("106238001", "ロスバスタチン錠2.5mg"),
    ("103957801", "ランソプラゾールOD錠15mg"),
    ("100607002", "ロキソプロフェンナトリウム錠60mg"),
    ("109683201", "モンテルカスト錠10mg"),
    ("105176701", "レボチロキシンナトリウム錠50μg"),
    ("120690701", "エスシタロプラム錠10mg"),
    ("101928601", "フェキソフェナジン塩酸塩錠60mg"),
    ("105264501", "カンデサルタン錠8mg"),
]
DOSAGES = ["1回1錠 1日1回 朝食後", "1回1錠 1日2回 朝夕食後", "1回1錠 1日3回 毎食後"]
# MedicationRequest.status, weighted: most past prescriptions are completed.
STATUSES = ["active"] * 6 + ["completed"] * 11 + ["stopped"] * 3


@dataclass(frozen=True)
class Visit:
    observations: int
    medication: bool
    condition: bool

    @property
    def size(self) -> int:
        return 1 + self.observations + self.medication + self.condition


def _layout(rng: random.Random) -> tuple[bool, list[Visit]]:
    """How many visits and what each produces: drawn first, so sizes can be counted alone."""
    chronic = rng.random() < CHRONIC_SHARE
    visits = rng.randint(30, 60) if chronic else rng.randint(1, 3)
    return chronic, [
        Visit(rng.randint(1, 3), rng.random() < 0.4, index == 0 or rng.random() < 0.05)
        for index in range(visits)
    ]


def _rng(seed: int, number: int) -> random.Random:
    return random.Random(seed * 1_000_003 + number)


@dataclass
class PatientInfo:
    """What the benchmark remembers about a patient to build queries that find something."""

    number: int
    id: str
    identifier: str
    kana_family: str
    kana_name: str  # family and given name in katakana, no space (as people type it)
    birth_date: str
    chronic: bool
    resources: int
    # (code search value, effective date) of every Observation.
    observations: list[tuple[str, date]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)  # of its MedicationRequests


Resource = tuple[str, str, dict[str, Any]]  # (type, id, content)


def count_resources(seed: int, patients: int) -> int:
    """The population's size, without generating it."""
    total = 0
    for number in range(patients):
        _chronic, visits = _layout(_rng(seed, number))
        total += 1 + sum(visit.size for visit in visits)
    return total


def patient_record(seed: int, number: int) -> tuple[PatientInfo, list[Resource]]:
    """One patient's resources (Patient first) with server-style ids, and what to remember."""
    rng = _rng(seed, number)
    chronic, visits = _layout(rng)
    pid = new_id(rng)
    subject = {"reference": f"Patient/{pid}"}
    family, family_kana = rng.choice(FAMILY)
    given, given_kana, gender = rng.choice(GIVEN)
    prefecture, city, postal = rng.choice(PLACES)
    born = date(rng.randint(1935, 2015), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
    identifier = f"{number:08d}"
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": identifier}],
        "active": True,
        "name": [
            _name("IDE", family, given),
            _name("SYL", family_kana, given_kana),
        ],
        "telecom": [
            {"system": "phone", "value": f"090-{rng.randint(0, 9999):04d}-{number % 10000:04d}"}
        ],
        "gender": gender,
        "birthDate": born,
        "address": [
            {
                "text": f"{prefecture}{city}{rng.randint(1, 5)}-{rng.randint(1, 30)}",
                "state": prefecture,
                "city": city,
                "postalCode": postal,
                "country": "JP",
            }
        ],
    }
    info = PatientInfo(
        number, pid, identifier, family_kana, family_kana + given_kana, born, chronic, 0
    )
    resources: list[Resource] = [("Patient", pid, patient)]
    days = sorted(rng.sample(range(DAYS), len(visits)))
    conditions = rng.sample(CONDITIONS, 3)
    for visit, day in zip(visits, days, strict=True):
        start = datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), JST)
        start += timedelta(hours=rng.randint(9, 16), minutes=rng.choice((0, 15, 30, 45)))
        eid = new_id(rng)
        encounter = {"reference": f"Encounter/{eid}"}
        inpatient = chronic and rng.random() < 0.1
        end = start + (timedelta(days=rng.randint(3, 14)) if inpatient else timedelta(minutes=15))
        resources.append(
            (
                "Encounter",
                eid,
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": _ACT_CODE,
                        "code": "IMP" if inpatient else "AMB",
                        "display": "inpatient encounter" if inpatient else "ambulatory",
                    },
                    "subject": subject,
                    "period": {"start": start.isoformat(), "end": end.isoformat()},
                },
            )
        )
        for _ in range(visit.observations):
            test = rng.choice(LABS if rng.random() < 0.4 else VITALS)
            oid = new_id(rng)
            resources.append(
                ("Observation", oid, _observation(rng, test, subject, encounter, start))
            )
            info.observations.append((test.token, start.date()))
        if visit.medication:
            status = rng.choice(STATUSES)
            info.statuses.append(status)
            code, display = rng.choice(MEDICATIONS)
            mid = new_id(rng)
            resources.append(
                (
                    "MedicationRequest",
                    mid,
                    {
                        "resourceType": "MedicationRequest",
                        "status": status,
                        "intent": "order",
                        "medicationCodeableConcept": {
                            "coding": [{"system": HOT9, "code": code, "display": display}],
                            "text": display,
                        },
                        "subject": subject,
                        "encounter": encounter,
                        "authoredOn": start.isoformat(),
                        "dosageInstruction": [{"text": rng.choice(DOSAGES)}],
                    },
                )
            )
        if visit.condition:
            icd, display = conditions.pop() if conditions else rng.choice(CONDITIONS)
            cid = new_id(rng)
            clinical = "active" if rng.random() < 0.7 else "resolved"
            resources.append(
                (
                    "Condition",
                    cid,
                    {
                        "resourceType": "Condition",
                        "clinicalStatus": _coded(_CLINICAL, clinical),
                        "verificationStatus": _coded(_VERIFICATION, "confirmed"),
                        "category": [_coded(_CONDITION_CATEGORY, "encounter-diagnosis")],
                        "code": {
                            "coding": [{"system": ICD10, "code": icd, "display": display}],
                            "text": display,
                        },
                        "subject": subject,
                        "encounter": encounter,
                        "onsetDateTime": start.date().isoformat(),
                        "recordedDate": start.isoformat(),
                    },
                )
            )
    info.resources = len(resources)
    return info, resources


def _name(representation: str, family: str, given: str) -> dict[str, Any]:
    return {
        "extension": [{"url": _REPRESENTATION, "valueCode": representation}],
        "use": "official",
        "text": f"{family} {given}",
        "family": family,
        "given": [given],
    }


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(
    rng: random.Random,
    test: Test,
    subject: dict[str, str],
    encounter: dict[str, str],
    when: datetime,
) -> dict[str, Any]:
    coding = [{"system": LOINC, "code": test.loinc, "display": test.display}]
    if test.jlac10:
        coding.insert(0, {"system": JLAC10, "code": test.jlac10, "display": test.display})
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": _OBSERVATION_CATEGORY, "code": test.category},
                ]
            }
        ],
        "code": {"coding": coding, "text": test.display},
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": (when + timedelta(minutes=rng.randint(0, 30))).isoformat(),
    }
    if test.components:
        resource["component"] = [
            {
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": _quantity(float(rng.randint(int(low), int(high))), test.unit),
            }
            for code, display, low, high in test.components
        ]
    else:
        value = round(rng.uniform(test.low, test.high), 1)
        resource["valueQuantity"] = _quantity(value, test.unit)
    return resource


def chunks(
    seed: int, patients: int, size: int, infos: list[PatientInfo]
) -> Iterator[list[Resource]]:
    """The population in load sessions of about `size` resources (whole patients each);
    every patient's PatientInfo is appended to `infos` as it is generated."""
    batch: list[Resource] = []
    for number in range(patients):
        info, resources = patient_record(seed, number)
        infos.append(info)
        batch.extend(resources)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
