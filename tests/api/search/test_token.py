"""token parameters: code, system|code, |code, system|, :not, :text, :of-type, :missing.

See: https://hl7.org/fhir/R4/search.html#token
"""

from __future__ import annotations

import pytest

from tests.api.search import data
from tests.api.search.support import Expected, SearchServer, all_pats, cases, check, pats

HBA1C = {"obs-hba1c-01a", "obs-hba1c-01b", "obs-hba1c-03", "obs-hba1c-08"}
GLUCOSE = {"obs-glucose-01", "obs-glucose-04", "obs-glucose-05", "obs-glucose-11"}
WEIGHT = {"obs-weight-01", "obs-weight-06", "obs-weight-99"}
VITALS = WEIGHT | {"obs-bp-01", "obs-bp-07", "obs-temp-06a", "obs-temp-06b", "obs-hr-02"}
ALL_OBS = {o["id"] for o in data.OBSERVATIONS}
NOT_FINAL = {"obs-hba1c-08", "obs-glucose-05", "obs-cgm-04", "obs-hr-02"}
ALL_COND = {c["id"] for c in data.CONDITIONS}
ACTIVE_COND = ALL_COND - {"cond-asthma-06", "cond-flu-06"}
V2 = data.V2_0203

CASES: list[tuple[str, Expected]] = [
    # Patient.gender (code), Patient.active (boolean), Patient.deceased (boolean expression).
    ("Patient?gender=male", pats(1, 3, 5, 7, 11)),
    ("Patient?gender=female", pats(2, 4, 6, 8, 12)),
    ("Patient?gender=male,female", all_pats(9, 10)),
    ("Patient?gender=other", pats(9)),
    ("Patient?gender:not=male", pats(2, 4, 6, 8, 9, 10, 12)),
    ("Patient?gender:not=male,female", pats(9, 10)),
    ("Patient?gender:missing=true", pats(10)),
    ("Patient?gender:missing=false", all_pats(10)),
    ("Patient?active=true", all_pats(10, 12)),
    ("Patient?active=false", pats(10)),
    ("Patient?active:not=true", pats(10, 12)),
    ("Patient?deceased=true", pats(8)),
    ("Patient?deceased=false", all_pats(8)),
    # Identifiers: the same MRN value under two hospitals' OIDs.
    ("Patient?identifier=00000001", pats(1, 3)),
    (f"Patient?identifier={data.MRN_TOKYO}|00000001", pats(1)),
    (f"Patient?identifier={data.MRN_OSAKA}|00000001", pats(3)),
    (f"Patient?identifier={data.MRN_OSAKA}|", pats(3)),
    ("Patient?identifier=|00000001", set()),
    ("Patient?identifier=00000001,00000012", pats(1, 3, 12)),
    (f"Patient?identifier={data.MEMBER_ID}|06139876:東京1:12345:01", pats(1)),
    (f"Patient?identifier={data.MEMBER_ID}|", pats(1, 3)),
    (f"Patient?identifier:of-type={V2}|MR|00000001", pats(1, 3)),
    (f"Patient?identifier:of-type={V2}|MB|27001234:阪1:555:00", pats(3)),
    (f"Patient?identifier:of-type={V2}|MB|00000001", set()),
    # ContactPoint and CodeableConcept on Patient.
    ("Patient?email=taro.yamada@example.jp", pats(1)),
    ("Patient?phone=03-1234-5678", pats(1, 2)),
    ("Patient?telecom=06-6123-4567", pats(3)),
    ("Patient?telecom:missing=true", pats(5, 7, 8, 9, 10, 11, 12)),
    ("Patient?language=de", pats(12)),
    ("Patient?language=urn:ietf:bcp:47|ja", pats(12)),
    # Observation.code with JLAC10 and LOINC codings.
    ("Observation?code=4548-4", HBA1C),
    ("Observation?code=http://loinc.org|4548-4", HBA1C),
    (f"Observation?code={data.JLAC10}|3D046000001906202", HBA1C),
    ("Observation?code=http://loinc.org|3D046000001906202", set()),
    ("Observation?code=2345-7,41653-7", GLUCOSE | {"obs-cgm-04"}),
    (
        f"Observation?code=http://loinc.org|4548-4,{data.JLAC10}|3D010000001926101",
        HBA1C | GLUCOSE,
    ),
    (f"Observation?code={data.JLAC10}|", HBA1C | GLUCOSE),
    ("Observation?code=4548-4&code=2345-7", set()),
    ("Observation?category=vital-signs", VITALS),
    ("Observation?category=laboratory&status=preliminary", {"obs-glucose-05", "obs-cgm-04"}),
    (
        "Observation?category=laboratory&code:not=4548-4",
        GLUCOSE | {"obs-cgm-04", "obs-abs-11", "obs-ext-11"},
    ),
    ("Observation?status=final,amended", ALL_OBS - NOT_FINAL | {"obs-hr-02"}),
    ("Observation?status:not=final", NOT_FINAL),
    ("Observation?status:not=final&status:not=preliminary", {"obs-hba1c-08", "obs-hr-02"}),
    ("Observation?code:text=HbA1c", HBA1C),
    ("Observation?code:text=hba1c", HBA1C),
    ("Observation?code:text=空腹時", {"obs-glucose-01", "obs-glucose-04", "obs-glucose-05"}),
    ("Observation?code:text=ぐるこーす", GLUCOSE),
    ("Observation?code:text=Body weight", WEIGHT),
    ("Observation?component-code=8480-6", {"obs-bp-01", "obs-bp-07"}),
    ("Observation?component-code:text=systolic", {"obs-bp-01", "obs-bp-07"}),
    ("Observation?component-code=http://loinc.org|8462-4", {"obs-bp-01", "obs-bp-07"}),
    ("Observation?combo-code=8480-6", {"obs-bp-01", "obs-bp-07"}),
    ("Observation?combo-code=29463-7", WEIGHT),
    ("Observation?code=85354-9&component-code=8462-4", {"obs-bp-01", "obs-bp-07"}),
    ("Observation?component-code:missing=false", {"obs-bp-01", "obs-bp-07"}),
    # Condition: ICD-10 codes, statuses, text-only codes.
    ("Condition?code=E11.9", {"cond-dm-01", "cond-dm-03"}),
    (f"Condition?code={data.ICD10}|I10", {"cond-htn-01", "cond-htn-07"}),
    ("Condition?code=I10,J45.9", {"cond-htn-01", "cond-htn-07", "cond-asthma-06"}),
    (f"Condition?code={data.ICD10}|", ALL_COND - {"cond-backpain-09"}),
    ("Condition?code:text=腰痛", {"cond-backpain-09"}),
    ("Condition?code:text=本態性", {"cond-htn-01", "cond-htn-07"}),
    ("Condition?code:text=2型", {"cond-dm-01", "cond-dm-03"}),
    ("Condition?code:text=いんふるえんざ", {"cond-flu-06"}),
    ("Condition?code:not=I10", ALL_COND - {"cond-htn-01", "cond-htn-07"}),
    (f"Condition?code:not={data.ICD10}|I10", ALL_COND - {"cond-htn-01", "cond-htn-07"}),
    ("Condition?clinical-status=resolved", {"cond-asthma-06", "cond-flu-06"}),
    (f"Condition?clinical-status={data.CONDITION_CLINICAL}|active", ACTIVE_COND),
    ("Condition?verification-status=provisional", {"cond-ckd-08"}),
    ("Condition?category=encounter-diagnosis", {"cond-flu-06"}),
    # MedicationRequest: statuses, intent, HOT9 codes with full-width display text.
    ("MedicationRequest?status=active", {"medreq-01a", "medreq-01b"}),
    ("MedicationRequest?status=active,on-hold", {"medreq-01a", "medreq-01b", "medreq-07"}),
    (
        "MedicationRequest?status:not=active",
        {"medreq-01c", "medreq-03", "medreq-06", "medreq-07"},
    ),
    ("MedicationRequest?intent=proposal", {"medreq-03"}),
    ("MedicationRequest?code=1109871020101", {"medreq-01b", "medreq-07"}),
    (f"MedicationRequest?code={data.HOT9}|1124506010101", {"medreq-01a", "medreq-03"}),
    ("MedicationRequest?code:text=アムロジピン錠5mg", {"medreq-01b", "medreq-07"}),
    ("MedicationRequest?code:text=ﾀﾐﾌﾙ", {"medreq-06"}),
    # AllergyIntolerance.
    ("AllergyIntolerance?criticality=high", {"allergy-01", "allergy-04"}),
    ("AllergyIntolerance?category=food", {"allergy-04", "allergy-06"}),
    ("AllergyIntolerance?type=intolerance", {"allergy-09"}),
    ("AllergyIntolerance?clinical-status=active", {"allergy-01", "allergy-04"}),
    (f"AllergyIntolerance?manifestation={data.SNOMED}|39579001", {"allergy-04"}),
    ("AllergyIntolerance?code:text=ソバ", {"allergy-04"}),
    ("AllergyIntolerance?code:text=ぺにしりん", {"allergy-01"}),
    # Encounter.class (Coding), Organization.type, Practitioner.identifier.
    ("Encounter?class=IMP", {"enc-02"}),
    (f"Encounter?class={data.ACT_CODE}|AMB", {"enc-01", "enc-04", "enc-05"}),
    ("Encounter?status=finished", {"enc-01", "enc-02", "enc-03"}),
    ("Organization?type=ins", {"org-kyokai"}),
    (f"Organization?identifier={data.INSTITUTION_NO}|2711234567", {"org-osaka"}),
    ("Practitioner?identifier=123456", {"prac-01"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_token_search(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)
