"""Filings (备案): validity, the regions they cover, categories of a visit (DESIGN.md §4.4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tongban.domain.filing import Filing, FilingKind, add_months, validity_end, visit_categories
from tongban.domain.policy import FilingCategory, MedType, Policy, Reduction, best_category
from tongban.errors import InvalidInput

JINHUA, HANGZHOU, SHANGHAI, NANJING, HEFEI = "330700", "330100", "310000", "320100", "340100"
ZHEJIANG, JIANGSU = "330000", "320000"
START = date(2024, 3, 15)


def filing(
    kind: FilingKind = FilingKind.REFERRAL,
    target: str = SHANGHAI,
    months: int | None = None,
    revoked_on: date | None = None,
) -> Filing:
    return Filing(
        filing_id="F1",
        kind=kind,
        target_region=target,
        start_date=START,
        end_date=validity_end(kind, START, months),
        revoked_on=revoked_on,
    )


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    "kind",
    [FilingKind.RETIRED_RESETTLED, FilingKind.LONG_TERM_RESIDENT, FilingKind.POSTED_WORKER],
)
def test_a_long_term_filing_is_valid_until_revoked(kind):
    f = filing(kind)

    assert f.end_date is None
    assert kind.category is FilingCategory.LONG_TERM
    assert not f.is_active(date(2024, 3, 14))  # not before it starts
    assert f.is_active(START)
    assert f.is_active(date(2060, 1, 1))


def test_a_long_term_filing_cannot_be_given_a_duration():
    with pytest.raises(InvalidInput) as invalid:
        validity_end(FilingKind.POSTED_WORKER, START, 12)

    assert invalid.value.code == "INVALID_FILING"


@pytest.mark.parametrize("kind", [FilingKind.REFERRAL, FilingKind.EMERGENCY, FilingKind.OTHER])
def test_a_temporary_filing_lasts_six_months_by_default(kind):
    f = filing(kind)

    # 15 March + 6 months = 15 September, exclusive: the last covered day is 14 September.
    assert f.end_date == date(2024, 9, 15)
    assert f.is_active(date(2024, 9, 14))
    assert not f.is_active(date(2024, 9, 15))


def test_a_temporary_filing_may_last_longer_than_six_months():
    assert validity_end(FilingKind.OTHER, START, 12) == date(2025, 3, 15)


@pytest.mark.parametrize("months", [5, 1, 0, -6])
def test_a_temporary_filing_of_fewer_than_six_months_is_refused(months):
    with pytest.raises(InvalidInput) as invalid:
        validity_end(FilingKind.REFERRAL, START, months)

    assert invalid.value.code == "INVALID_FILING"


def test_a_revoked_filing_stops_covering_from_its_revocation_date():
    f = filing(FilingKind.RETIRED_RESETTLED, revoked_on=date(2024, 6, 1))

    assert f.covers_visit(SHANGHAI, date(2024, 5, 31))
    assert not f.covers_visit(SHANGHAI, date(2024, 6, 1))
    assert not f.covers_visit(SHANGHAI, date(2025, 1, 1))


def test_a_revoked_temporary_filing_stops_before_its_end_date():
    f = filing(FilingKind.REFERRAL, revoked_on=date(2024, 4, 1))

    assert f.covers_visit(SHANGHAI, date(2024, 3, 31))
    assert not f.covers_visit(SHANGHAI, date(2024, 4, 1))


# --------------------------------------------------------------------------- target regions


def test_a_province_target_covers_every_city_of_that_province_only():
    f = filing(FilingKind.LONG_TERM_RESIDENT, target=ZHEJIANG)

    assert f.covers_visit(JINHUA, date(2024, 4, 1))
    assert f.covers_visit(HANGZHOU, date(2024, 4, 1))
    assert not f.covers_visit(NANJING, date(2024, 4, 1))
    assert not f.covers_visit(SHANGHAI, date(2024, 4, 1))
    assert not f.covers_visit(HEFEI, date(2024, 4, 1))


def test_a_city_target_covers_only_that_city():
    f = filing(FilingKind.LONG_TERM_RESIDENT, target=HANGZHOU)

    assert f.covers_visit(HANGZHOU, date(2024, 4, 1))
    assert not f.covers_visit(JINHUA, date(2024, 4, 1))
    assert not f.covers_visit(NANJING, date(2024, 4, 1))


def test_a_filing_covers_nothing_outside_its_dates_even_in_its_region():
    f = filing(FilingKind.REFERRAL, target=JIANGSU)

    assert not f.covers_visit(NANJING, date(2024, 3, 14))
    assert f.covers_visit(NANJING, date(2024, 3, 15))


# --------------------------------------------------------------------------- categories


def test_a_visit_covered_by_no_filing_has_no_category():
    assert visit_categories([], SHANGHAI, date(2024, 4, 1), emergency=False) == set()
    elsewhere = filing(FilingKind.REFERRAL, target=NANJING)
    assert visit_categories([elsewhere], SHANGHAI, date(2024, 4, 1), emergency=False) == set()


def test_an_emergency_visit_counts_as_emergency_even_without_a_filing():
    assert visit_categories([], SHANGHAI, date(2024, 4, 1), emergency=True) == {
        FilingCategory.EMERGENCY
    }


def test_a_visit_gets_the_category_of_every_filing_that_covers_it():
    filings = [
        filing(FilingKind.OTHER, target=SHANGHAI),
        filing(FilingKind.RETIRED_RESETTLED, target=SHANGHAI, revoked_on=date(2024, 4, 1)),
        filing(FilingKind.REFERRAL, target=NANJING),
    ]

    assert visit_categories(filings, SHANGHAI, date(2024, 3, 20), emergency=True) == {
        FilingCategory.OTHER,
        FilingCategory.LONG_TERM,
        FilingCategory.EMERGENCY,
    }
    assert visit_categories(filings, SHANGHAI, date(2024, 4, 2), emergency=False) == {
        FilingCategory.OTHER
    }


# --------------------------------------------------------------------------- add_months


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2023, 8, 31), 6, date(2024, 2, 29)),  # leap year: clamped to 29 February
        (date(2022, 8, 31), 6, date(2023, 2, 28)),  # clamped to 28 February
        (date(2024, 3, 31), 6, date(2024, 9, 30)),  # September has 30 days
        (date(2024, 1, 15), 6, date(2024, 7, 15)),
        (date(2024, 7, 1), 6, date(2025, 1, 1)),  # across the year end
        (date(2024, 12, 31), 12, date(2025, 12, 31)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 5, 10), 0, date(2024, 5, 10)),
    ],
)
def test_adding_months_keeps_the_day_or_clamps_it_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


# --------------------------------------------------------------------------- best category


def policy(unfiled: str | None) -> Policy:
    return Policy(
        insutype="310",
        med_type=MedType.OUTPATIENT,
        deductible=0,
        ratio=Decimal("0.85"),
        annual_cap=10**8,
        reduction=Reduction(
            referral=Decimal("0.10"),
            emergency=Decimal("0.05"),
            other=Decimal("0.20"),
            unfiled=None if unfiled is None else Decimal(unfiled),
        ),
    )


@pytest.mark.parametrize(
    ("candidates", "best"),
    [
        ({FilingCategory.OTHER, FilingCategory.EMERGENCY}, FilingCategory.EMERGENCY),
        ({FilingCategory.OTHER, FilingCategory.REFERRAL}, FilingCategory.REFERRAL),
        (
            {FilingCategory.OTHER, FilingCategory.EMERGENCY, FilingCategory.LONG_TERM},
            FilingCategory.LONG_TERM,
        ),
        ({FilingCategory.OTHER}, FilingCategory.OTHER),
    ],
)
def test_the_most_favourable_category_is_chosen(candidates, best):
    assert best_category(policy(unfiled="0.30"), candidates) is best


def test_a_visit_with_no_category_is_unfiled():
    assert best_category(policy(unfiled="0.30"), []) is FilingCategory.NONE
    assert best_category(policy(unfiled=None), set()) is FilingCategory.NONE


def test_a_filed_category_beats_unfiled_even_when_unfiled_is_refused():
    assert best_category(policy(unfiled=None), [FilingCategory.NONE, FilingCategory.OTHER]) is (
        FilingCategory.OTHER
    )
