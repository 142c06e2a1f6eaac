"""The demo's sample reference data: counts, shapes, golden items, determinism."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from decimal import Decimal

import pytest

from tongban.demo.sample_bills import INPATIENT_MEAN_FEN, OUTPATIENT_MEAN_FEN, sample_bill
from tongban.demo.sample_catalogue import (
    GOLDEN_CODES,
    TYPICAL_PRICE,
    national_catalogue,
    regional_catalogue,
    typical_unit_price,
)
from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.demo.sample_policies import SAMPLE_NOTICE, sample_policies
from tongban.domain.catalogue import CatalogueItem, CoverageClass, classify
from tongban.domain.identifiers import parse_id_number, parse_institution_code
from tongban.domain.money import round_half_up
from tongban.domain.policy import AccountPiece, MedType
from tongban.domain.regions import yrd_regions
from tongban.errors import InvalidInput

A, B, C = CoverageClass.A, CoverageClass.B, CoverageClass.C
ALL_REGIONS = [r.code for r in yrd_regions()]
DRUG_CODE = re.compile(r"^[XZ][A-Z0-9]{22}$")
SERVICE_CODE = re.compile(r"^\d{15}$")
# Both generators take about 0.05 s of CPU on a quiet machine; the bound only catches a gross
# regression without failing on a loaded CI runner.
CPU_BUDGET_S = 0.5

GOLDEN = [
    CatalogueItem("001102000010000", "普通门诊诊查费", A),
    CatalogueItem("XA01ABD075A002010100483", "地喹氯铵含片", B, Decimal("0.10"), 1200),
    CatalogueItem("ZC01AAA0001000000000001", "示例丙类中成药", C),
    CatalogueItem("XN02BEA005A001010101234", "示例乙类药", B, Decimal("0.05")),
    CatalogueItem("003101000010000", "床位费(三级)", A, price_cap=4000),
    CatalogueItem("XJ01DCA001B002010100001", "示例乙类注射剂", B, Decimal("0.15"), 8850),
]


def total(lines):
    return sum(round_half_up(line.quantity * line.unit_price) for line in lines)


# --- catalogue -------------------------------------------------------------------------------


def test_national_catalogue_has_about_300_items_with_unique_codes_and_names():
    items = national_catalogue()
    assert 250 <= len(items) <= 350
    assert len({i.code for i in items}) == len(items)
    assert len({i.name for i in items}) == len(items)


def test_every_code_has_the_national_drug_or_service_shape():
    for item in national_catalogue():
        assert DRUG_CODE.match(item.code) or SERVICE_CODE.match(item.code), item.code


def test_catalogue_mixes_classes_roughly_40_45_15_with_caps_on_about_a_third_of_covered_items():
    items = national_catalogue()
    share = {k: v / len(items) for k, v in Counter(i.coverage for i in items).items()}
    assert 0.33 <= share[A] <= 0.47
    assert 0.38 <= share[B] <= 0.52
    assert 0.10 <= share[C] <= 0.20
    covered = [i for i in items if i.coverage is not C]
    capped = sum(1 for i in covered if i.price_cap is not None)
    assert 0.2 <= capped / len(covered) <= 0.4


def test_class_b_ratios_are_decimals_between_5_and_30_percent_and_others_are_zero():
    for item in national_catalogue():
        assert isinstance(item.selfpay_ratio, Decimal)
        if item.coverage is B:
            assert Decimal("0.05") <= item.selfpay_ratio <= Decimal("0.30")
        else:
            assert item.selfpay_ratio == 0
        if item.coverage is C:
            assert item.price_cap is None


@pytest.mark.parametrize("region", ["310000", "320100", "330100", "330700", "340100"])
def test_golden_items_are_present_with_exact_values_in_every_catalogue(region):
    for catalogue in (national_catalogue(), regional_catalogue(region)):
        by_code = {i.code: i for i in catalogue}
        for golden in GOLDEN:
            assert by_code[golden.code] == golden
    assert {g.code for g in GOLDEN} == GOLDEN_CODES


def test_catalogue_includes_familiar_real_items():
    names = {i.name for i in national_catalogue()}
    for expected in ("血常规检查", "CT平扫", "普通门诊诊查费", "床位费(三级)"):
        assert expected in names
    for prefix in ("阿莫西林胶囊", "头孢克肟片", "二甲双胍缓释片", "氨氯地平片", "阿托伐他汀钙片"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_every_item_has_a_positive_typical_price():
    for item in national_catalogue():
        assert TYPICAL_PRICE[item.code] > 0
        assert typical_unit_price(item) == TYPICAL_PRICE[item.code]
    assert typical_unit_price(CatalogueItem("999999999999999", "x", A, price_cap=700)) == 700


def test_regional_catalogues_keep_the_codes_but_vary_a_little_by_province():
    national = national_catalogue()
    for region in ALL_REGIONS:
        regional = regional_catalogue(region)
        assert [i.code for i in regional] == [i.code for i in national]
        changed = sum(1 for a, b in zip(national, regional, strict=True) if a != b)
        assert changed < len(national) // 5, region
    shanghai = {i.code: i for i in regional_catalogue("310000")}
    promoted = [i for i in national if i.coverage is C and shanghai[i.code].coverage is B]
    assert promoted, "Shanghai lists a few 丙类 items as 乙类"
    zhejiang = {i.code: i for i in regional_catalogue("330700")}
    assert any(
        i.coverage is B and zhejiang[i.code].selfpay_ratio != i.selfpay_ratio for i in national
    )
    assert regional_catalogue("330100") != regional_catalogue("320100")


def test_regional_catalogue_is_deterministic_and_refuses_unknown_regions():
    assert regional_catalogue("341800") == regional_catalogue("341800")
    with pytest.raises(InvalidInput):
        regional_catalogue("110000")


# --- policies --------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_every_region_has_12_policies_one_per_insutype_med_type_and_level(region):
    policies = sample_policies(region)
    assert len(policies) == 12
    keys = {(p.insutype, p.med_type, p.level) for p in policies}
    assert keys == {(t, m, lv) for t in ("310", "390") for m in MedType for lv in (1, 2, 3)}


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_policy_values_are_plausible_and_exact_types(region):
    for p in sample_policies(region):
        assert isinstance(p.ratio, Decimal) and Decimal("0.5") <= p.ratio <= Decimal("0.9")
        assert isinstance(p.deductible, int) and isinstance(p.annual_cap, int)
        employee = p.insutype == "310"
        if employee:
            assert isinstance(p.reduction.unfiled, Decimal)
            assert p.reduction.unfiled >= p.reduction.other
        else:
            assert p.reduction.unfiled is None
            assert p.account_covers == frozenset()
        assert p.reduction.referral == p.reduction.emergency == Decimal("0.10")
        assert p.reduction.other in (Decimal("0.15"), Decimal("0.20"))
        if p.med_type is MedType.OUTPATIENT:
            assert p.deductible_subsequent is None
            if employee:
                assert 100_000 <= p.deductible <= 180_000
                assert 1_000_000 <= p.annual_cap <= 5_000_000
                assert p.account_covers == {
                    AccountPiece.DEDUCTIBLE,
                    AccountPiece.COPAY,
                    AccountPiece.PRESELFPAY,
                }
            else:
                assert 10_000 <= p.deductible <= 30_000
        else:
            assert 30_000 <= p.deductible <= 150_000
            assert p.deductible_subsequent is not None
            assert p.deductible_subsequent * 2 <= p.deductible
            if employee:
                assert 30_000_000 <= p.annual_cap <= 60_000_000
                assert p.account_covers == frozenset(AccountPiece)


@pytest.mark.parametrize("region", ["310000", "330100", "330700", "341200"])
def test_a_higher_institution_level_never_pays_a_higher_ratio(region):
    by_key = {(p.insutype, p.med_type, p.level): p for p in sample_policies(region)}
    for insutype in ("310", "390"):
        for med_type in MedType:
            ratios = [by_key[(insutype, med_type, level)].ratio for level in (1, 2, 3)]
            assert ratios == sorted(ratios, reverse=True)
        inpatient = [by_key[(insutype, MedType.INPATIENT, lv)].deductible for lv in (1, 2, 3)]
        assert inpatient == sorted(inpatient)


def test_policies_differ_between_regions_and_are_deterministic():
    assert sample_policies("330700") == sample_policies("330700")
    assert len({sample_policies(code) for code in ALL_REGIONS}) > 20
    assert "sample" in SAMPLE_NOTICE


# --- institutions ----------------------------------------------------------------------------


def test_shanghai_has_682_institutions_enabled_for_cross_region_settlement():
    institutions = sample_institutions("310000")
    assert len(institutions) >= 700
    assert sum(i.enabled for i in institutions) == 682


def test_jinhua_has_141_and_hangzhou_118_enabled_institutions():
    jinhua, hangzhou = sample_institutions("330700"), sample_institutions("330100")
    assert sum(i.enabled for i in jinhua) == 141 < len(jinhua)
    assert sum(i.enabled for i in hangzhou) == 118 < len(hangzhou)


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_institution_codes_are_valid_unique_and_names_unique_within_the_region(region):
    institutions = sample_institutions(region)
    for institution in institutions:
        assert parse_institution_code(institution.code) == institution.code
        assert institution.code.startswith("H" + region)
        assert institution.level in (1, 2, 3)
    assert len({i.code for i in institutions}) == len(institutions)
    assert len({i.name for i in institutions}) == len(institutions)
    if region not in ("310000", "330700", "330100"):
        assert 20 <= len(institutions) <= 60
        assert sum(i.enabled for i in institutions) > len(institutions) * 0.7


def test_most_institutions_are_level_1_with_a_few_level_3_hospitals():
    levels = Counter(i.level for i in sample_institutions("330700"))
    assert levels[1] > levels[2] > levels[3] >= 1
    names = {i.name for i in sample_institutions("330700")}
    assert "金华市中心医院" in names
    assert any(n.endswith("社区卫生服务中心") for n in names)


def test_institutions_are_deterministic_and_fast():
    start = time.process_time()
    first = sample_institutions.__wrapped__("310000")  # bypass the cache
    assert time.process_time() - start < CPU_BUDGET_S
    assert first == sample_institutions.__wrapped__("310000")


# --- people ----------------------------------------------------------------------------------


def test_people_have_valid_unique_id_numbers_from_their_city():
    people = sample_people("330700", 3000, seed=7)
    assert len(people) == 3000
    assert len({p.id_number for p in people}) == 3000
    for person in people:
        born = parse_id_number(person.id_number).birth_date
        assert 1940 <= born.year <= 2005
        assert person.id_number.startswith("3307")
        assert 2 <= len(person.name) <= 4


def test_about_65_percent_are_employees_with_accounts_and_residents_have_none():
    people = sample_people("310000", 3000, seed=1)
    employees = [p for p in people if p.insutype == "310"]
    residents = [p for p in people if p.insutype == "390"]
    assert len(employees) + len(residents) == len(people)
    assert 0.60 <= len(employees) / len(people) <= 0.70
    assert all(p.account_balance == 0 for p in residents)
    assert all(0 <= p.account_balance <= 800_000 for p in employees)
    assert any(p.account_balance == 0 for p in employees)
    assert any(p.account_balance > 0 for p in employees)


def test_people_are_deterministic_from_region_and_seed_and_fast():
    start = time.process_time()
    first = sample_people("320500", 3000, seed=42)
    assert time.process_time() - start < CPU_BUDGET_S
    assert first == sample_people("320500", 3000, seed=42)
    assert first != sample_people("320500", 3000, seed=43)
    assert sample_people("320500", 10, seed=42) == first[:10]


# --- bills -----------------------------------------------------------------------------------


def test_outpatient_bill_mean_over_2000_draws_is_within_15_percent_of_235_yuan():
    catalogue = regional_catalogue("330700")
    rng = random.Random(2024)
    bills = [sample_bill(catalogue, MedType.OUTPATIENT, rng, 23_500) for _ in range(2000)]
    mean = sum(total(b) for b in bills) / len(bills)
    assert OUTPATIENT_MEAN_FEN == 23_500
    assert abs(mean - 23_500) <= 23_500 * 0.15
    assert all(1 <= len(b) <= 6 for b in bills)


def test_inpatient_bills_have_5_to_15_lines_and_a_plausible_mean():
    catalogue = regional_catalogue("310000")
    rng = random.Random(7)
    bills = [sample_bill(catalogue, MedType.INPATIENT, rng, INPATIENT_MEAN_FEN) for _ in range(500)]
    assert all(5 <= len(b) <= 15 for b in bills)
    mean = sum(total(b) for b in bills) / len(bills)
    assert abs(mean - INPATIENT_MEAN_FEN) <= INPATIENT_MEAN_FEN * 0.2


@pytest.mark.parametrize("med_type", list(MedType))
def test_bill_lines_are_valid_and_classify_without_errors(med_type):
    catalogue = regional_catalogue("340100")
    by_code = {i.code: i for i in catalogue}
    rng = random.Random(3)
    for _ in range(300):
        lines = sample_bill(catalogue, med_type, rng, 23_500)
        for line in lines:
            assert line.code in by_code
            assert isinstance(line.quantity, Decimal) and line.quantity > 0
            assert isinstance(line.unit_price, int) and line.unit_price >= 0
            assert line.amount is None
        assert classify(lines, by_code).medfee_sumamt == total(lines)


def test_outpatient_bills_usually_start_with_a_consultation_fee():
    catalogue = national_catalogue()
    by_code = {i.code: i for i in catalogue}
    rng = random.Random(11)
    bills = [sample_bill(catalogue, MedType.OUTPATIENT, rng, 23_500) for _ in range(500)]
    first_is_consult = sum(1 for b in bills if "诊查费" in by_code[b[0].code].name)
    assert first_is_consult > 0.8 * len(bills)


def test_bills_are_deterministic_for_the_same_rng_seed():
    catalogue = regional_catalogue("330100")
    for med_type in MedType:
        a = [sample_bill(catalogue, med_type, random.Random(5), 23_500) for _ in range(3)]
        b = [sample_bill(list(catalogue), med_type, random.Random(5), 23_500) for _ in range(3)]
        assert a == b
