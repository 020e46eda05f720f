"""date parameters: implicit ranges of partial dates, Periods, open ends, every prefix.

A value is a half-open range [low, high): `1972-03` is all of March 1972, a Period runs from
its start to its end, a missing end runs forever. Prefixes compare ranges as the R4 table says
(eq: contained; gt/lt: overlaps the range above/below; ge/le: either; sa/eb: entirely after or
before; ne: not contained).
See: https://hl7.org/fhir/R4/search.html#date and #prefix
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.search.support import Expected, SearchServer, all_pats, cases, check, pats

# Observations with an effective time before 2024-06-11 (everything but the October HbA1c,
# the open-ended CGM period and the unresulted HbA1c).
BEFORE_JUNE_11 = {
    "obs-hba1c-01a",
    "obs-hba1c-03",
    "obs-glucose-01",
    "obs-glucose-04",
    "obs-glucose-05",
    "obs-glucose-11",
    "obs-weight-01",
    "obs-weight-06",
    "obs-bp-01",
    "obs-bp-07",
    "obs-temp-06a",
    "obs-temp-06b",
    "obs-hr-02",
    "obs-weight-99",
    "obs-abs-11",
    "obs-ext-11",
}
APRIL_1 = {"obs-hba1c-01a", "obs-glucose-01", "obs-weight-01"}

CASES: list[tuple[str, Expected]] = [
    # Patient.birthDate of day, month and year precision.
    ("Patient?birthdate=1970-01-15", pats(1)),
    ("Patient?birthdate=1970", pats(1)),
    ("Patient?birthdate=1970-01", pats(1)),
    ("Patient?birthdate=eq1970-01-15", pats(1)),
    ("Patient?birthdate=1972-03", pats(2)),
    ("Patient?birthdate=1972", pats(2)),
    ("Patient?birthdate=1972-03-10", set()),  # a month is not within a day
    ("Patient?birthdate=1985", pats(3)),
    ("Patient?birthdate=1985-06", set()),  # the year 1985 is not within June
    ("Patient?birthdate=1948-02-29", pats(7)),
    # A day is not within one second, but it does reach past it.
    ("Patient?birthdate=1970-01-15T10:00:00Z", set()),
    ("Patient?birthdate=ge1970-01-15T10:00:00Z", pats(1, 2, 3, 4, 5, 6, 9, 11, 12)),
    ("Patient?birthdate=lt1960", pats(7)),
    ("Patient?birthdate=le1960-11-03", pats(7, 8)),
    ("Patient?birthdate=gt2000", pats(5, 6)),
    ("Patient?birthdate=ge2001-12-31", pats(5, 6)),
    ("Patient?birthdate=gt2001-12-31", pats(6)),
    ("Patient?birthdate=ge1985-06", pats(3, 4, 5, 6, 9, 12)),
    ("Patient?birthdate=gt1985-06", pats(3, 4, 5, 6, 9, 12)),
    ("Patient?birthdate=lt1985-06", pats(1, 2, 3, 7, 8, 11)),
    ("Patient?birthdate=sa1985-06", pats(4, 5, 6, 9, 12)),
    ("Patient?birthdate=eb1985-06", pats(1, 2, 7, 8, 11)),
    ("Patient?birthdate=ne1970-01-15", all_pats(1, 10)),
    ("Patient?birthdate=ge1980&birthdate=lt1990", pats(3, 11, 12)),
    ("Patient?birthdate=1970,1972", pats(1, 2)),
    ("Patient?birthdate:missing=true", pats(10)),
    ("Patient?death-date=2024-08-01", pats(8)),
    ("Patient?death-date=2024", pats(8)),
    # Observation.effective[x]: instants with +09:00, a two-day Period, an open Period.
    ("Observation?date=2024-04-01", APRIL_1),
    ("Observation?date=2024-04", APRIL_1 | {"obs-hr-02"}),
    ("Observation?date=2023", {"obs-glucose-04", "obs-bp-07"}),
    ("Observation?date=2024-02-03", {"obs-weight-06", "obs-temp-06a"}),
    ("Observation?date=2024-06-10", set()),  # the ABPM period runs into the next day
    ("Observation?date=2024-06", {"obs-bp-01"}),
    ("Observation?date=ge2024-06-11", {"obs-bp-01", "obs-cgm-04", "obs-hba1c-01b"}),
    ("Observation?date=gt2030-01-01", {"obs-cgm-04"}),
    ("Observation?date=lt2024-06-11", BEFORE_JUNE_11),
    ("Observation?date=sa2024-06-09", {"obs-bp-01", "obs-cgm-04", "obs-hba1c-01b"}),
    ("Observation?date=eb2024-06-11", BEFORE_JUNE_11 - {"obs-bp-01"}),
    ("Observation?date=eb2024-06-12", BEFORE_JUNE_11),
    ("Observation?date=2024-04-01T10:00:00+09:00", {"obs-hba1c-01a", "obs-glucose-01"}),
    ("Observation?date=2024-04-01T01:00:00Z", {"obs-hba1c-01a", "obs-glucose-01"}),
    ("Observation?date=2024-04-01T10:00+09:00", {"obs-hba1c-01a", "obs-glucose-01"}),
    ("Observation?date=2024-04-01T10:05:00+09:00", {"obs-weight-01"}),
    ("Observation?date=ge2024-04-01T10:05+09:00&date=lt2024-04-02", {"obs-weight-01"}),
    ("Observation?date=ge2024-09-01&date=le2024-12-31", {"obs-cgm-04", "obs-hba1c-01b"}),
    ("Observation?date=2024-04-01,2023", APRIL_1 | {"obs-glucose-04", "obs-bp-07"}),
    ("Observation?date:missing=true", {"obs-hba1c-08"}),
    # ap: at least the exact matches and values a few weeks away (the window only grows as
    # these dates recede into the past); the other criteria bound the result.
    (
        "Observation?date=ap2024-04-01&date=ge2024-03&date=lt2024-05&code=4548-4,2345-7",
        {"obs-hba1c-01a", "obs-glucose-01", "obs-glucose-05", "obs-glucose-11"},
    ),
    # Encounter.period.
    ("Encounter?date=2024-04-01", {"enc-01"}),
    ("Encounter?date=2024-10", {"enc-02"}),
    ("Encounter?date=2024-10-05", set()),
    ("Encounter?date=ge2024-10-05", {"enc-02", "enc-04", "enc-05"}),
    ("Encounter?date=gt2029", {"enc-04", "enc-05"}),
    ("Encounter?date=sa2024-05-14", {"enc-02", "enc-04", "enc-05"}),
    ("Encounter?date=eb2024-05-15", {"enc-01", "enc-03"}),
    ("Encounter?date=le2024-02-03", {"enc-03"}),
    ("Encounter?date=2030-03-02", {"enc-05"}),
    # Condition.onset[x]: dateTime of several precisions, an open Period, an Age, a string.
    ("Condition?onset-date=2018", {"cond-dm-01"}),
    ("Condition?onset-date=2018-05", {"cond-dm-01"}),
    ("Condition?onset-date=2018-05-20", set()),
    ("Condition?onset-date=ge2022", {"cond-dm-03", "cond-flu-06"}),
    ("Condition?onset-date=ge2030", {"cond-dm-03"}),
    ("Condition?onset-date=lt2019", {"cond-dm-01"}),
    ("Condition?onset-date=le2019", {"cond-dm-01", "cond-asthma-06"}),
    ("Condition?onset-date=sa2020", {"cond-ckd-08", "cond-flu-06", "cond-dm-03"}),
    ("Condition?onset-date=eb2020", {"cond-dm-01", "cond-asthma-06"}),
    (
        "Condition?onset-date=ne2024-02-03",
        {"cond-dm-01", "cond-htn-01", "cond-asthma-06", "cond-dm-03", "cond-ckd-08"},
    ),
    ("Condition?onset-date:missing=true", {"cond-htn-07", "cond-backpain-09"}),
    ("Condition?abatement-date=2023", {"cond-asthma-06"}),
    ("Condition?abatement-date=2023-03-15", set()),
    ("Condition?abatement-date=le2023-03-15", {"cond-asthma-06"}),
    ("Condition?recorded-date=2018-05-20", {"cond-dm-01"}),
    # MedicationRequest.authoredOn: time zones are converted before comparing.
    ("MedicationRequest?authoredon=2024-04-01", {"medreq-01a", "medreq-01b"}),
    ("MedicationRequest?authoredon=lt2024", {"medreq-01c", "medreq-07"}),
    (
        "MedicationRequest?authoredon=ge2024-02-03T21:00:00+09:00",
        {"medreq-06", "medreq-01a", "medreq-01b", "medreq-03"},
    ),
    (
        "MedicationRequest?authoredon=gt2024-02-03T21:00:00+09:00",
        {"medreq-01a", "medreq-01b", "medreq-03"},
    ),
    ("MedicationRequest?authoredon=2024-04-01T02:00Z", {"medreq-01a"}),
    ("MedicationRequest?authoredon=2024-04-01T11:05:00+09:00", {"medreq-01b"}),
    ("MedicationRequest?authoredon=2022-10", {"medreq-01c"}),
    # AllergyIntolerance.recordedDate, RiskAssessment.occurrence.
    ("AllergyIntolerance?date=2010", {"allergy-01"}),
    ("AllergyIntolerance?date:missing=true", {"allergy-04", "allergy-09"}),
    ("RiskAssessment?date=2024", {"risk-01", "risk-03", "risk-05"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_date_search(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=lt1000", ["y0050", "y0800"]),
        ("date=gt1000", ["y1200"]),
        ("date=lt0100", ["y0050"]),
        ("date=ge0800&date=lt1200", ["y0800"]),
        ("_sort=date", ["y0050", "y0800", "y1200"]),
        ("_sort=-date", ["y1200", "y0800", "y0050"]),
    ],
)
def test_years_before_1000_compare_and_sort_as_years(
    client: TestClient, query: str, expected: list[str]
) -> None:
    """Years of fewer than four digits (R4 allows 0001-9999) order before 1000 on both
    databases (SQLite used to write them unpadded, so 0800 came after 1200)."""
    for id, year in (("y0800", "0800"), ("y1200", "1200"), ("y0050", "0050")):
        body = {
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "code": {"text": "historical record"},
            "effectiveDateTime": year,
        }
        assert client.put(f"/fhir/Observation/{id}", json=body).status_code == 201
    bundle = client.get(f"/fhir/Observation?{query}").json()
    ids = [entry["resource"]["id"] for entry in bundle.get("entry", [])]
    assert (ids if "_sort" in query else sorted(ids)) == expected
