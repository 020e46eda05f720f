"""number and quantity parameters: precision of the search value, prefixes, units.

`0.1` means [0.05, 0.15); `100` means [99.5, 100.5); `3e-1` has one significant figure. For
quantities, `value|system|code` matches system and code; `value||unit` matches the code or
the unit as written.
See: https://hl7.org/fhir/R4/search.html#number and #quantity
"""

from __future__ import annotations

import pytest

from tests.api.search import data
from tests.api.search.support import Expected, SearchServer, cases, check

UCUM = data.UCUM
GLUCOSE_HIGH = {"obs-glucose-01", "obs-glucose-11", "obs-cgm-04"}

CASES: list[tuple[str, Expected]] = [
    # RiskAssessment.prediction.probability: 0.12, 0.125, 0.3 and 0.02.
    ("RiskAssessment?probability=0.12", {"risk-01"}),
    ("RiskAssessment?probability=0.1", {"risk-01", "risk-07"}),
    ("RiskAssessment?probability=0.13", {"risk-07"}),
    ("RiskAssessment?probability=0.125", {"risk-07"}),
    ("RiskAssessment?probability=0.3", {"risk-03"}),
    ("RiskAssessment?probability=0.30", {"risk-03"}),
    ("RiskAssessment?probability=0.300", {"risk-03"}),
    ("RiskAssessment?probability=0.31", set()),
    ("RiskAssessment?probability=3e-1", {"risk-03"}),
    ("RiskAssessment?probability=gt0.2", {"risk-03"}),
    ("RiskAssessment?probability=ge0.125", {"risk-07", "risk-03"}),
    ("RiskAssessment?probability=gt0.125", {"risk-03"}),
    ("RiskAssessment?probability=lt0.12", {"risk-05"}),
    ("RiskAssessment?probability=le0.12", {"risk-05", "risk-01"}),
    ("RiskAssessment?probability=ne0.12", {"risk-07", "risk-03", "risk-05"}),
    ("RiskAssessment?probability=ap0.12", {"risk-01", "risk-07"}),
    ("RiskAssessment?probability=sa0.2", {"risk-03"}),
    ("RiskAssessment?probability=eb0.1", {"risk-05"}),
    ("RiskAssessment?probability=0.02,0.3", {"risk-05", "risk-03"}),
    ("RiskAssessment?probability=gt-1", {"risk-01", "risk-07", "risk-03", "risk-05"}),
    ("RiskAssessment?probability=-0.12", set()),
    ("RiskAssessment?probability=gt0.1&probability=lt0.2", {"risk-01", "risk-07"}),
    # Observation.valueQuantity: glucose 126, 98, 99.6, 100.5 and CGM 142 mg/dL; HbA1c
    # 6.5, 7.2, 5.4 %; temperatures 37.5 and 38.25 Cel (unit ℃).
    ("Observation?value-quantity=100", {"obs-glucose-05"}),
    ("Observation?value-quantity=100||mg/dL", {"obs-glucose-05"}),
    (f"Observation?value-quantity=100|{UCUM}|mg/dL", {"obs-glucose-05"}),
    ("Observation?value-quantity=100.5", {"obs-glucose-11"}),
    ("Observation?value-quantity=100.50", {"obs-glucose-11"}),
    ("Observation?value-quantity=gt100", GLUCOSE_HIGH),
    (f"Observation?value-quantity=gt100|{UCUM}|mg/dL", GLUCOSE_HIGH),
    ("Observation?value-quantity=lt7||%", {"obs-hba1c-01a", "obs-hba1c-03"}),
    ("Observation?value-quantity=ge7.2||%", {"obs-hba1c-01b"}),
    (f"Observation?value-quantity=6.5|{UCUM}|%", {"obs-hba1c-01a"}),
    (f"Observation?value-quantity=6.5|{UCUM}|mg/dL", set()),
    ("Observation?value-quantity=6.5|http://example.org/units|%", set()),
    ("Observation?value-quantity=37.5||Cel", {"obs-temp-06a"}),
    ("Observation?value-quantity=37.5||℃", {"obs-temp-06a"}),
    ("Observation?value-quantity=38", {"obs-temp-06a", "obs-temp-06b"}),
    ("Observation?value-quantity=38.3", {"obs-temp-06b"}),
    (f"Observation?value-quantity=le60|{UCUM}|kg", {"obs-weight-06", "obs-weight-99"}),
    (
        "Observation?value-quantity=ap100||mg/dL",
        {"obs-glucose-04", "obs-glucose-05", "obs-glucose-11"},
    ),
    ("Observation?value-quantity=ne100||mg/dL", GLUCOSE_HIGH | {"obs-glucose-04"}),
    ("Observation?value-quantity=sa100||mg/dL", GLUCOSE_HIGH),
    ("Observation?value-quantity=eb99||mg/dL", {"obs-glucose-04"}),
    ("Observation?value-quantity=gt5||%&value-quantity=lt7||%", {"obs-hba1c-01a", "obs-hba1c-03"}),
    ("Observation?value-quantity=6.5||%,126||mg/dL", {"obs-hba1c-01a", "obs-glucose-01"}),
    (
        "Observation?value-quantity:missing=true",
        {"obs-hba1c-08", "obs-bp-01", "obs-bp-07", "obs-abs-11", "obs-ext-11"},
    ),
    # Components (blood pressure 142/91 and 118/76 mm[Hg]) and value-or-component.
    ("Observation?component-value-quantity=gt140", {"obs-bp-01"}),
    ("Observation?component-value-quantity=76||mm[Hg]", {"obs-bp-07"}),
    ("Observation?combo-value-quantity=gt140", {"obs-bp-01", "obs-cgm-04"}),
    ("Observation?combo-value-quantity=142", {"obs-bp-01", "obs-cgm-04"}),
    # Condition.onsetAge (Age) and Encounter.length (Duration).
    ("Condition?onset-age=60", {"cond-htn-07"}),
    (f"Condition?onset-age=ge50|{UCUM}|a", {"cond-htn-07"}),
    ("Condition?onset-age=lt50", set()),
    ("Encounter?length=7", {"enc-02"}),
    ("Encounter?length=7.0", {"enc-02"}),
    (f"Encounter?length=gt5|{UCUM}|d", {"enc-02"}),
    ("Encounter?length=7||min", set()),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_number_and_quantity_search(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)
