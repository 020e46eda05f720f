"""The synthetic population: households of people with names, addresses and insurance.

A household shares a family name, an address and (for employees' dependents and 国保
households) the insurance card's 記号・番号, each member with their own 枝番. Ages follow the
Japanese age pyramid (2020 census, 5-year groups, approximate); given names follow the birth
cohort. Everything is drawn from a `random.Random` seeded from the seed and the household
number, so a population is reproducible person by person.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any, Final, TypeVar

from tsunagu.identity.coverage import CoverageFacts, coverage_resource
from tsunagu.identity.insurance import MemberId, with_check_digit
from tsunagu.identity.matching import Person
from tsunagu.identity.names import kana_form
from tsunagu.identity.synthetic import clinical, insurers, names_data, places
from tsunagu.identity.synthetic.insurers import Insurer
from tsunagu.identity.synthetic.variants import DUPLICATE_KINDS, vary

T = TypeVar("T")

REFERENCE_DATE: Final = date(2026, 4, 1)  # "today" for ages and coverage periods
JP_PATIENT: Final = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
JP_COVERAGE: Final = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Coverage"
REPRESENTATION: Final = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
LOCAL_ID_PREFIX: Final = "urn:oid:1.2.392.100495.20.3.51.1"  # + 医療機関コード (10 digits)

# Population (millions) by 5-year age group from 0–4 to 95–99 and 100+ (2020, approximate).
AGE_PYRAMID: Final = (
    4.5, 5.0, 5.3, 5.6, 6.3, 6.3, 6.8, 7.7, 8.6, 9.8,
    8.9, 7.9, 7.4, 8.2, 9.1, 7.1, 5.4, 3.7, 1.9, 0.6, 0.1,
)  # fmt: skip


@dataclass(frozen=True)
class CoverageSpec:
    """One insurance card: who holds it, of which insurer, valid when."""

    insurer: Insurer
    symbol: str
    number: str
    branch: str
    relationship: str  # self | spouse | child
    subscriber: str  # Patient id of the insured person (被保険者)
    start: date
    end: date | None  # None: still valid

    @property
    def member_id(self) -> MemberId:
        return MemberId(self.insurer.number, self.symbol, self.number, self.branch)


@dataclass
class Individual:
    id: str
    family_kanji: str
    given_kanji: str
    family_kana: str
    given_kana: str
    sex: str
    birthdate: date
    municipality: places.Municipality
    line: str  # town and house number, e.g. 丸の内1-2-3
    phone: str
    facility: str  # 医療機関コード of the facility that registered the patient
    local_id: str
    coverages: list[CoverageSpec] = field(default_factory=list)

    @property
    def age(self) -> int:
        return _age(self.birthdate, REFERENCE_DATE)

    @property
    def address_text(self) -> str:
        return f"{self.municipality.prefecture.name}{self.municipality.name}{self.line}"

    @property
    def postal_code(self) -> str:
        return self.municipality.postal_code


class Population:
    """The people of one seed, in order; `people(n)` gives the first n."""

    def __init__(self, seed: int = 0, prefix: str | None = None) -> None:
        self.seed = seed
        self.prefix = prefix if prefix is not None else f"syn{seed}-"
        self._surnames = names_data.surnames()
        self._surname_weights = _cumulative(s.weight for s in self._surnames)
        self._given = {sex: names_data.given_names(sex) for sex in ("male", "female")}
        self._given_weights = {
            (sex, c): _cumulative(g.weights[c] for g in self._given[sex])
            for sex in ("male", "female")
            for c in range(3)
        }
        self._prefectures = places.prefectures()
        self._prefecture_weights = _cumulative(p.population for p in self._prefectures)
        by_prefecture: dict[str, list[places.Municipality]] = {}
        for municipality in places.municipalities():
            by_prefecture.setdefault(municipality.prefecture.code, []).append(municipality)
        self._municipalities = by_prefecture
        self._adult_ages = _cumulative(AGE_PYRAMID[4:])  # from 20

    @cached_property
    def insurers(self) -> list[Insurer]:
        """Every insurer a person of this population can have (for the Organization set)."""
        out: list[Insurer] = []
        for prefecture in self._prefectures:
            out.append(insurers.kyokai(prefecture))
            out += [insurers.society(prefecture, s) for s in range(self._societies(prefecture))]
            out += [insurers.mutual(prefecture, s) for s in range(3)]
            for municipality in self._municipalities[prefecture.code]:
                out += [insurers.kokuho(municipality), insurers.koki(municipality)]
        return out

    def people(self, count: int, start_household: int = 0) -> Iterator[Individual]:
        """The first `count` people (the last household may be cut short)."""
        produced = 0
        for number in itertools.count(start_household):
            for person in self.household(number, produced):
                if produced >= count:
                    return
                yield person
                produced += 1

    def household(self, number: int, first_index: int) -> list[Individual]:
        """Household `number`, whose members get ids from `first_index` on."""
        rng = random.Random(f"{self.seed}:{number}")
        prefecture = self._prefectures[_pick(rng, self._prefecture_weights)]
        municipality = rng.choice(self._municipalities[prefecture.code])
        line = f"{municipality.town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
        surname = self._surnames[_pick(rng, self._surname_weights)]
        family_kanji = _alternative(rng, surname.kanji.value, surname.kanji.alternatives)
        family_kana = _alternative(rng, surname.kana.value, surname.kana.alternatives)
        facility = self.facility(prefecture.code, rng.randrange(8))
        head_age = 20 + 5 * _pick(rng, self._adult_ages) + rng.randrange(5)
        head_sex = rng.choice(("male", "female"))
        members = [(head_age, head_sex, "self")]
        if head_age >= 24 and rng.random() < 0.6:
            gap = round(rng.gauss(2, 3)) * (1 if head_sex == "male" else -1)
            members.append((max(20, min(104, head_age - gap)), _other(head_sex), "spouse"))
        if 24 <= head_age <= 60:
            for _ in range(rng.choices((0, 1, 2, 3), (35, 25, 30, 10))[0]):
                child_age = head_age - rng.randint(22, 42)
                if 0 <= child_age < 24:
                    members.append((child_age, rng.choice(("male", "female")), "child"))
        people = []
        for offset, (age, sex, _role) in enumerate(members):
            birth = _birthdate(rng, age)
            given = self._given[sex][_pick(rng, self._given_weights[(sex, _cohort(birth))])]
            index = first_index + offset
            people.append(
                Individual(
                    id=f"{self.prefix}{index:07d}",
                    family_kanji=family_kanji,
                    given_kanji=given.kanji,
                    family_kana=family_kana,
                    given_kana=given.kana,
                    sex=sex,
                    birthdate=birth,
                    municipality=municipality,
                    line=line,
                    phone=f"090-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
                    if rng.random() < 0.6
                    else "",
                    facility=facility,
                    local_id=f"{index % 10**10:010d}",
                )
            )
        self._insure(rng, people, [role for _, _, role in members])
        return people

    # --- insurance -------------------------------------------------------------------------

    def _societies(self, prefecture: places.Prefecture) -> int:
        return 10 if prefecture.code in ("13", "14", "23", "27") else 2

    def _employer_insurer(self, rng: random.Random, prefecture: places.Prefecture) -> Insurer:
        roll = rng.random()
        if roll < 0.55:
            return insurers.kyokai(prefecture)
        if roll < 0.9:
            return insurers.society(prefecture, rng.randrange(self._societies(prefecture)))
        return insurers.mutual(prefecture, rng.randrange(3))

    def _insure(self, rng: random.Random, people: list[Individual], roles: list[str]) -> None:
        head = people[0]
        municipality = head.municipality
        employed = head.age < 65 and rng.random() < 0.8
        for person in people:
            if person.age >= 75:
                self._elderly(rng, person, municipality)
        under_75 = [(p, r) for p, r in zip(people, roles, strict=True) if p.age < 75]
        if not under_75:
            return
        if employed and head.age < 75:
            periods = _job_periods(rng, head)
            for start, end in periods:
                insurer = self._employer_insurer(rng, municipality.prefecture)
                symbol, number = str(rng.randrange(100, 99_999_999)), str(rng.randrange(1, 99_999))
                for branch, (person, role) in enumerate(under_75):
                    begins = max(start, person.birthdate)
                    if end is not None and begins > end:
                        continue
                    person.coverages.append(
                        CoverageSpec(
                            insurer, symbol, number, f"{branch:02d}", role, head.id, begins, end
                        )
                    )
        else:
            insurer = insurers.kokuho(municipality)
            symbol, number = f"{rng.randrange(1, 100):02d}", f"{rng.randrange(10**7):07d}"
            holder = under_75[0][0]
            start = max(
                _add_years(holder.birthdate, 20), _add_years(REFERENCE_DATE, -rng.randint(0, 25))
            )
            for branch, (person, role) in enumerate(under_75):
                begins = max(start, person.birthdate)
                relation = "self" if branch == 0 else role
                person.coverages.append(
                    CoverageSpec(
                        insurer, symbol, number, f"{branch:02d}", relation, holder.id, begins, None
                    )
                )

    def _elderly(
        self, rng: random.Random, person: Individual, municipality: places.Municipality
    ) -> None:
        """後期高齢者医療 from the 75th birthday; 国保 before it (ended the day before)."""
        turned_75 = _add_years(person.birthdate, 75)
        previous = insurers.kokuho(municipality)
        person.coverages.append(
            CoverageSpec(
                previous,
                f"{rng.randrange(1, 100):02d}",
                f"{rng.randrange(10**7):07d}",
                "00",
                "self",
                person.id,
                _add_years(person.birthdate, 65),
                turned_75 - timedelta(days=1),
            )
        )
        person.coverages.append(
            CoverageSpec(
                insurers.koki(municipality),
                "",
                f"{rng.randrange(10**8):08d}",
                "",
                "self",
                person.id,
                turned_75,
                None,
            )
        )

    def facility(self, prefecture: str, serial: int) -> str:
        """One of 8 invented 医療機関コード per prefecture (医科 = 1, with a check digit)."""
        rng = random.Random(f"{self.seed}:facility:{prefecture}:{serial}")
        return with_check_digit(
            f"{prefecture}1{rng.randrange(1, 100):02d}{rng.randrange(10**4):04d}"
        )


# --- FHIR resources -----------------------------------------------------------------------------


def patient_resource(person: Individual) -> dict[str, Any]:
    """A JP Core Patient: kanji (IDE) and kana (SYL) names, address, local and member ids."""
    identifiers = [{"system": f"{LOCAL_ID_PREFIX}{person.facility}", "value": person.local_id}]
    current = current_coverage(person)
    if current is not None:
        identifiers.append(current.member_id.identifier())
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person.id,
        "meta": {"profile": [JP_PATIENT]},
        "identifier": identifiers,
        "active": True,
        "name": [
            _name(person.family_kanji, person.given_kanji, "IDE"),
            _name(person.family_kana, person.given_kana, "SYL"),
        ],
        "gender": person.sex,
        "birthDate": person.birthdate.isoformat(),
        "address": [
            {
                "use": "home",
                "text": person.address_text,
                "line": [person.line],
                "city": person.municipality.name,
                "state": person.municipality.prefecture.name,
                "postalCode": person.postal_code,
                "country": "JP",
            }
        ],
    }
    if person.phone:
        resource["telecom"] = [{"system": "phone", "value": person.phone, "use": "mobile"}]
    return resource


def _name(family: str, given: str, representation: str) -> dict[str, Any]:
    return {
        "extension": [{"url": REPRESENTATION, "valueCode": representation}],
        "use": "official",
        "text": f"{family} {given}",
        "family": family,
        "given": [given],
    }


def current_coverage(person: Individual) -> CoverageSpec | None:
    return next((c for c in reversed(person.coverages) if c.end is None), None)


def coverage_resources(person: Individual) -> list[dict[str, Any]]:
    """The person's insurance cards, oldest first (`identity.coverage` builds each one); a
    card that ended is `cancelled`, with 資格喪失事由 03 (他保険取得)."""
    out = []
    for n, spec in enumerate(person.coverages):
        facts = CoverageFacts(
            member=spec.member_id,
            status="active" if spec.end is None else "cancelled",
            start=spec.start,
            end=spec.end,
            beneficiary=f"Patient/{person.id}",
            relationship="1" if spec.relationship == "self" else "2",
            copay_percent=copay_percent(person, spec),
            reason_of_loss=None if spec.end is None else "03",
            insurer_name=spec.insurer.name,
        )
        resource = {"id": f"{person.id}-cov{n}", **coverage_resource(facts)}
        resource["meta"] = {"profile": [JP_COVERAGE]}
        resource["subscriber"] = {"reference": f"Patient/{spec.subscriber}"}
        resource["subscriberId"] = f"{spec.symbol}:{spec.number}"
        out.append(resource)
    return out


def copay_percent(person: Individual, spec: CoverageSpec) -> int:
    """負担割合 by age on the card's start (ignoring income): 20 % before school and from 70,
    10 % from 75 (後期高齢), otherwise 30 %."""
    age = _age(
        person.birthdate, max(spec.start, REFERENCE_DATE if spec.end is None else spec.start)
    )
    if spec.insurer.kind == "koki":
        return 10
    return 20 if age < 6 or age >= 70 else 30


def resources(person: Individual, seed: int, *, with_clinical: bool = True) -> list[dict[str, Any]]:
    """Patient, Coverage history and (optionally) the clinical history of one person."""
    out = [patient_resource(person), *coverage_resources(person)]
    if with_clinical:
        rng = random.Random(f"{seed}:clinical:{person.id}")
        out += clinical.history(rng, person.id, person.birthdate, REFERENCE_DATE)
    return out


# --- helpers ------------------------------------------------------------------------------------


def _cumulative(weights: Iterator[float] | Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def _alternative(rng: random.Random, value: str, alternatives: Sequence[tuple[str, float]]) -> str:
    roll = rng.random()
    for form, share in alternatives:
        if roll < share:
            return form
        roll -= share
    return value


def _other(sex: str) -> str:
    return "female" if sex == "male" else "male"


def _cohort(birth: date) -> int:
    return names_data.cohort(birth.year)


def _birthdate(rng: random.Random, age: int) -> date:
    """A birthdate giving `age` on REFERENCE_DATE."""
    latest = _add_years(REFERENCE_DATE, -age)
    return latest - timedelta(days=rng.randrange(365))


def _add_years(value: date, years: int) -> date:
    try:
        return value.replace(year=value.year + years)
    except ValueError:  # 29 February
        return value.replace(year=value.year + years, day=28)


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _job_periods(rng: random.Random, head: Individual) -> list[tuple[date, date | None]]:
    """One or two jobs: the current since some years, and sometimes a previous one."""
    working_since = _add_years(head.birthdate, 22)
    years = max(0, head.age - 22)
    start = REFERENCE_DATE - timedelta(days=rng.randrange(365 * min(years, 30) + 1))
    start = max(start, working_since)
    if years >= 3 and rng.random() < 0.35 and start - working_since > timedelta(days=400):
        earlier = working_since + timedelta(days=rng.randrange((start - working_since).days - 365))
        return [(earlier, start - timedelta(days=1)), (start, None)]
    return [(start, None)]


def pick_weighted(rng: random.Random, items: Sequence[T], cumulative: list[float]) -> T:
    return items[_pick(rng, cumulative)]


def demographics(person: Individual) -> Person:
    """The person as the matcher sees them."""
    return Person(
        family_kanji=person.family_kanji,
        given_kanji=person.given_kanji,
        family_kana=person.family_kana,
        given_kana=person.given_kana,
        birthdate=person.birthdate,
        sex=person.sex,
        postal_code=person.postal_code,
        address=person.address_text,
        phone=person.phone,
    )


def duplicate_patient(rng: random.Random, person: Individual, facility: str) -> dict[str, Any]:
    """The same person registered again at another facility, written a little differently
    (one variant from `variants.DUPLICATE_KINDS`); id `<id>-d`. Ground truth for linkage."""
    varied = vary(rng, demographics(person), [rng.choice(DUPLICATE_KINDS)])
    resource = patient_resource(person)
    resource["id"] = f"{person.id}-d"
    resource["identifier"] = [
        {"system": f"{LOCAL_ID_PREFIX}{facility}", "value": f"{rng.randrange(10**10):010d}"}
    ]
    resource["name"] = [
        _name(varied.family_kanji.strip(), varied.given_kanji, "IDE"),
        _name(kana_form(varied.family_kana), kana_form(varied.given_kana), "SYL"),
    ]
    if varied.birthdate is not None:
        resource["birthDate"] = varied.birthdate.isoformat()
    if varied.address:
        resource["address"][0]["text"] = varied.address
    else:
        del resource["address"]
    resource.pop("telecom", None)
    return resource
