"""The money rules of DESIGN.md §4.1-4.2, as properties over random bills, policies and people,
plus worked examples computed by hand."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.domain.case import run_case
from tongban.domain.catalogue import BillLine, CatalogueItem, CoverageClass, classify
from tongban.domain.policy import (
    AccountPiece,
    FilingCategory,
    InsuType,
    MedType,
    PersonState,
    Policy,
    Reduction,
    Split,
    StateDelta,
    apply_delta,
    commit_delta,
    compute_split,
)
from tongban.errors import InvalidInput, Refused

no_deadline = settings(deadline=None)

# Some codes are in a drawn catalogue, others not (unknown code = not covered).
CODES = [f"00110200001{i:04d}" for i in range(8)]

# --------------------------------------------------------------------------- strategies

ratios = st.integers(0, 100).map(lambda n: Decimal(n).scaleb(-2))  # "0.00" .. "1.00"
fen = st.integers(0, 10**6)


@st.composite
def catalogues(draw: st.DrawFn) -> dict[str, CatalogueItem]:
    codes = draw(st.lists(st.sampled_from(CODES), unique=True, max_size=len(CODES)))
    return {
        code: CatalogueItem(
            code=code,
            name=f"item {code}",
            coverage=draw(st.sampled_from(CoverageClass)),
            selfpay_ratio=draw(ratios),
            price_cap=draw(st.none() | fen),
        )
        for code in codes
    }


def _quantities_with(places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(1, 1000 * 10**places).map(lambda n: Decimal(n).scaleb(-places))


# > 0, up to 3 decimals; halves and eighths often, so that q × p lands on exactly .5 fen
quantities = st.one_of(
    st.integers(0, 3).flatmap(_quantities_with),
    st.sampled_from(["0.5", "1.5", "2.5", "0.125", "0.375"]).map(Decimal),
)
bill_lines = st.lists(
    st.builds(BillLine, code=st.sampled_from(CODES), quantity=quantities, unit_price=fen),
    max_size=8,
)


@st.composite
def reductions(draw: st.DrawFn) -> Reduction:
    return Reduction(
        referral=draw(ratios),
        emergency=draw(ratios),
        other=draw(ratios),
        unfiled=draw(st.none() | ratios),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        insutype=draw(st.sampled_from(InsuType)).value,
        med_type=draw(st.sampled_from(MedType)),
        deductible=draw(fen),
        ratio=draw(ratios),
        annual_cap=draw(st.integers(0, 10**8)),
        reduction=draw(reductions()),
        account_covers=draw(st.frozensets(st.sampled_from(AccountPiece))),
        deductible_subsequent=draw(st.none() | fen),
        level=draw(st.none() | st.sampled_from([1, 2, 3])),
    )


person_states = st.builds(
    PersonState,
    deductible_used=st.integers(0, 2 * 10**6),
    fund_paid=st.integers(0, 2 * 10**8),  # may already exceed the annual cap
    account_balance=st.integers(0, 10**7),
    admissions=st.integers(0, 5),
)


@dataclass(frozen=True)
class Scenario:
    catalogue: dict[str, CatalogueItem]
    lines: list[BillLine]
    policy: Policy
    state: PersonState
    category: FilingCategory
    use_account: bool

    def split(self, **changes: object) -> Split:
        """The split of this scenario, with some of its parts replaced."""
        s = replace(self, **changes)
        bill = classify(s.lines, s.catalogue)
        return compute_split(bill.pieces, s.policy, s.state, s.category, s.use_account)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A visit that settles: the category is never an unfiled visit the policy refuses."""
    policy = draw(policies())
    allowed = [
        c
        for c in FilingCategory
        if c is not FilingCategory.NONE or policy.reduction.unfiled is not None
    ]
    return Scenario(
        catalogue=draw(catalogues()),
        lines=draw(bill_lines),
        policy=policy,
        state=draw(person_states),
        category=draw(st.sampled_from(allowed)),
        use_account=draw(st.booleans()),
    )


def half_up_fen(quantity: Decimal, unit_price: int) -> int:
    """round_half_up(q × p) in plain integers: q has at most 3 decimals, so 1000·q is whole."""
    thousandths = quantity * 1000
    assert thousandths == thousandths.to_integral_value()
    return (int(thousandths) * unit_price + 500) // 1000


PIECES = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")

# --------------------------------------------------------------------------- properties


@no_deadline
@given(catalogue=catalogues(), lines=bill_lines)
def test_the_four_pieces_add_up_to_the_bill_total_of_rounded_line_amounts(catalogue, lines):
    bill = classify(lines, catalogue)

    amounts = [half_up_fen(line.quantity, line.unit_price) for line in lines]
    assert [c.amount for c in bill.lines] == amounts
    for classified in bill.lines:
        assert sum(getattr(classified.pieces, p) for p in PIECES) == classified.amount
    assert sum(getattr(bill.pieces, p) for p in PIECES) == bill.medfee_sumamt == sum(amounts)


@no_deadline
@given(scenarios())
def test_the_split_carries_the_four_pieces_and_their_total(scenario):
    split = scenario.split()

    amounts = [half_up_fen(line.quantity, line.unit_price) for line in scenario.lines]
    assert split.medfee_sumamt == sum(amounts)
    assert sum(getattr(split, p) for p in PIECES) == split.medfee_sumamt


@no_deadline
@given(scenarios())
def test_fund_account_and_cash_always_add_up_to_the_bill(scenario):
    split = scenario.split()

    assert split.hifp_pay + split.acct_pay + split.psn_cash_pay == split.medfee_sumamt
    assert split.psn_part_amt == split.medfee_sumamt - split.hifp_pay
    assert split.balc == scenario.state.account_balance - split.acct_pay


@no_deadline
@given(scenarios())
def test_no_figure_of_a_split_is_ever_negative(scenario):
    split = scenario.split()

    for f in fields(split):
        if f.name != "ratio_applied":
            assert getattr(split, f.name) >= 0, f.name
    assert split.balc >= 0
    assert split.copay >= 0
    assert Decimal(0) <= split.ratio_applied <= Decimal(1)


@no_deadline
@given(scenarios())
def test_committing_then_cancelling_restores_the_person_state_exactly(scenario):
    delta = commit_delta(scenario.split(), scenario.policy.med_type)

    committed = apply_delta(scenario.state, delta)
    assert apply_delta(committed, delta.reversed()) == scenario.state


@no_deadline
@given(first=scenarios(), second=scenarios())
def test_cancelling_an_earlier_settlement_leaves_exactly_the_later_ones_changes(first, second):
    # Same person and policy for both visits: A is settled, then B, then A is cancelled.
    policy, start = first.policy, first.state
    second = replace(second, policy=policy)
    if second.category is FilingCategory.NONE and policy.reduction.unfiled is None:
        second = replace(second, category=FilingCategory.LONG_TERM)

    delta_a = commit_delta(first.split(), policy.med_type)
    after_a = apply_delta(start, delta_a)
    delta_b = commit_delta(second.split(state=after_a), policy.med_type)
    after_b = apply_delta(after_a, delta_b)

    assert apply_delta(after_b, delta_a.reversed()) == apply_delta(start, delta_b)


@no_deadline
@given(scenarios())
def test_committing_records_exactly_the_changes_the_design_lists(scenario):
    split = scenario.split()
    med_type = scenario.policy.med_type

    delta = commit_delta(split, med_type)

    outpatient = med_type is MedType.OUTPATIENT
    assert delta == StateDelta(
        deductible_used=split.act_pay_dedc if outpatient else 0,
        fund_paid=split.hifp_pay,
        admissions=0 if outpatient else 1,
        account_debit=split.acct_pay,
    )
    after = apply_delta(scenario.state, delta)
    assert after.account_balance == split.balc


@no_deadline
@given(scenarios(), st.integers(0, 10**7), st.integers(0, 10**7))
def test_a_larger_account_balance_never_raises_the_cash_share(scenario, a, b):
    low, high = sorted((a, b))

    cash_low = scenario.split(state=replace(scenario.state, account_balance=low)).psn_cash_pay
    cash_high = scenario.split(state=replace(scenario.state, account_balance=high)).psn_cash_pay

    assert cash_high <= cash_low


@no_deadline
@given(scenarios(), ratios, ratios)
def test_a_lower_ratio_never_raises_the_fund_share(scenario, a, b):
    low, high = sorted((a, b))

    fund_low = scenario.split(policy=replace(scenario.policy, ratio=low)).hifp_pay
    fund_high = scenario.split(policy=replace(scenario.policy, ratio=high)).hifp_pay

    assert fund_low <= fund_high


@no_deadline
@given(scenarios())
def test_the_fund_stays_within_the_annual_cap_and_the_account_within_its_balance(scenario):
    split = scenario.split()
    state, policy = scenario.state, scenario.policy

    assert split.hifp_pay <= max(0, policy.annual_cap - state.fund_paid)
    assert split.acct_pay <= state.account_balance


@no_deadline
@given(scenarios())
def test_the_account_pays_only_the_pieces_the_policy_lets_it_pay(scenario):
    split = scenario.split()
    by_piece = {
        AccountPiece.DEDUCTIBLE: split.act_pay_dedc,
        AccountPiece.COPAY: split.copay,
        AccountPiece.PRESELFPAY: split.preselfpay_amt,
        AccountPiece.OWNPAY: split.fulamt_ownpay_amt,
        AccountPiece.OVERLIMIT: split.overlmt_selfpay,
    }

    if not scenario.use_account:
        assert split.acct_pay == 0
    else:
        covered = sum(by_piece[p] for p in scenario.policy.account_covers)
        assert split.acct_pay == min(scenario.state.account_balance, covered)


@no_deadline
@given(scenarios())
def test_the_deductible_taken_never_exceeds_what_remains_of_it(scenario):
    split = scenario.split()
    policy, state = scenario.policy, scenario.state

    if policy.med_type is MedType.OUTPATIENT:
        remaining = max(0, policy.deductible - state.deductible_used)  # per year
    elif state.admissions > 0 and policy.deductible_subsequent is not None:
        remaining = policy.deductible_subsequent  # 2nd and later admission of the year
    else:
        remaining = policy.deductible  # per admission
    assert split.act_pay_dedc <= remaining
    assert split.act_pay_dedc <= split.inscp_scp_amt


@no_deadline
@given(scenarios())
def test_an_unfiled_visit_is_refused_when_the_policy_requires_a_filing(scenario):
    policy = replace(scenario.policy, reduction=replace(scenario.policy.reduction, unfiled=None))

    with pytest.raises(Refused) as refused:
        scenario.split(policy=policy, category=FilingCategory.NONE)

    assert refused.value.code == "FILING_REQUIRED"


@no_deadline
@given(scenarios())
def test_a_long_term_filing_is_never_refused_and_gets_the_full_ratio(scenario):
    split = scenario.split(category=FilingCategory.LONG_TERM)

    assert split.ratio_applied == scenario.policy.ratio


# --------------------------------------------------------------------------- worked examples


def item(code: str, cls: str, selfpay: str = "0", cap: int | None = None) -> CatalogueItem:
    return CatalogueItem(code, f"item {code}", CoverageClass(cls), Decimal(selfpay), cap)


def line(code: str, quantity: str, unit_price: int, amount: int | None = None) -> BillLine:
    return BillLine(code, Decimal(quantity), unit_price, amount)


def outpatient_policy(**changes: object) -> Policy:
    base = Policy(
        insutype="310",
        med_type=MedType.OUTPATIENT,
        deductible=0,
        ratio=Decimal("0.70"),
        annual_cap=10**8,
    )
    return replace(base, **changes)


def test_a_line_amount_of_exactly_half_a_fen_rounds_up():
    bill = classify([line("A1", "1.5", 3)], {"A1": item("A1", "A")})

    assert bill.lines[0].amount == 5  # 1.5 × 3 = 4.5 fen → 5
    assert bill.pieces.inscp_scp_amt == 5


def test_an_up_front_self_pay_share_of_exactly_half_a_fen_rounds_up():
    bill = classify([line("B1", "1", 10)], {"B1": item("B1", "B", "0.05")})

    assert bill.pieces.preselfpay_amt == 1  # 10 × 0.05 = 0.5 fen → 1
    assert bill.pieces.inscp_scp_amt == 9  # 10 − 1


def test_a_fund_share_of_exactly_half_a_fen_rounds_up():
    bill = classify([line("A1", "1", 15)], {"A1": item("A1", "A")})

    split = compute_split(
        bill.pieces, outpatient_policy(), PersonState(), FilingCategory.LONG_TERM, False
    )

    assert split.hifp_pay == 11  # (15 − 0) × 0.70 = 10.5 fen → 11
    assert split.psn_cash_pay == 4  # 15 − 11


def test_a_price_cap_splits_the_over_limit_part_off_a_class_a_line():
    bill = classify([line("A1", "7", 4500)], {"A1": item("A1", "A", cap=4000)})

    # amount 7 × 4500 = 31500; capped 7 × 4000 = 28000; over-limit 31500 − 28000 = 3500
    assert bill.pieces.overlmt_selfpay == 3500
    assert bill.pieces.inscp_scp_amt == 28000
    assert bill.pieces.fulamt_ownpay_amt == bill.pieces.preselfpay_amt == 0


def test_a_class_b_line_takes_its_self_pay_share_of_the_capped_amount_only():
    bill = classify([line("B1", "3", 1230)], {"B1": item("B1", "B", "0.10", cap=1200)})

    # amount 3 × 1230 = 3690; capped 3 × 1200 = 3600, over 90;
    # up-front 3600 × 0.10 = 360; covered 3600 − 360 = 3240
    assert bill.pieces.overlmt_selfpay == 90
    assert bill.pieces.preselfpay_amt == 360
    assert bill.pieces.inscp_scp_amt == 3240


def test_the_price_cap_of_a_fractional_quantity_is_rounded_half_up_too():
    bill = classify([line("A1", "0.5", 4521)], {"A1": item("A1", "A", cap=4001)})

    # amount 0.5 × 4521 = 2260.5 → 2261; cap 0.5 × 4001 = 2000.5 → 2001; over 2261 − 2001 = 260
    assert bill.pieces.overlmt_selfpay == 260
    assert bill.pieces.inscp_scp_amt == 2001


def test_a_price_below_the_cap_leaves_nothing_over_limit():
    bill = classify([line("A1", "2", 3000)], {"A1": item("A1", "A", cap=4000)})

    assert bill.pieces.overlmt_selfpay == 0
    assert bill.pieces.inscp_scp_amt == 6000  # 2 × 3000


def test_an_unknown_code_is_fully_self_paid():
    bill = classify([line("UNKNOWN", "2", 5800)], {"A1": item("A1", "A")})

    assert bill.pieces.fulamt_ownpay_amt == 11600  # 2 × 5800, none of it covered
    assert bill.pieces.overlmt_selfpay == bill.pieces.preselfpay_amt == 0
    assert bill.pieces.inscp_scp_amt == 0


def test_a_class_c_item_is_fully_self_paid_whatever_its_cap_or_ratio():
    bill = classify([line("C1", "2", 5800)], {"C1": item("C1", "C", "0.10", cap=1000)})

    assert bill.pieces.fulamt_ownpay_amt == 11600  # 2 × 5800
    assert bill.medfee_sumamt == 11600


@pytest.mark.parametrize(
    ("quantity", "unit_price"),
    [("0", 100), ("-1", 100), ("-0.5", 100), ("1", -1)],
    ids=["quantity-zero", "quantity-negative", "quantity-negative-fraction", "price-negative"],
)
def test_a_line_with_no_quantity_or_a_negative_price_is_an_invalid_line(quantity, unit_price):
    with pytest.raises(InvalidInput) as invalid:
        classify([line("A1", quantity, unit_price)], {"A1": item("A1", "A")})

    assert invalid.value.code == "INVALID_LINE"


def test_a_free_line_is_accepted():
    bill = classify([line("A1", "1", 0)], {"A1": item("A1", "A")})

    assert bill.medfee_sumamt == 0


def test_a_given_amount_that_differs_from_quantity_times_price_is_a_mismatch():
    with pytest.raises(InvalidInput) as invalid:
        classify([line("A1", "2", 2500, amount=5001)], {"A1": item("A1", "A")})  # 2 × 2500 = 5000

    assert invalid.value.code == "AMOUNT_MISMATCH"


def test_a_given_amount_equal_to_the_rounded_product_is_accepted():
    bill = classify([line("A1", "0.5", 4521, amount=2261)], {"A1": item("A1", "A")})

    assert bill.medfee_sumamt == 2261  # 0.5 × 4521 = 2260.5 → 2261


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (
            [line("A1", "1", 100), line("A1", "1", 100, amount=99), line("A1", "0", 100)],
            "AMOUNT_MISMATCH",
        ),
        (
            [line("A1", "1", 100), line("A1", "0", 100), line("A1", "1", 100, amount=99)],
            "INVALID_LINE",
        ),
    ],
    ids=["mismatch-first", "invalid-first"],
)
def test_the_first_bad_line_decides_the_error(lines, code):
    with pytest.raises(InvalidInput) as invalid:
        classify(lines, {"A1": item("A1", "A")})

    assert invalid.value.code == code


def test_bad_lines_are_reported_before_a_missing_filing():
    case = {
        "catalog": {"A1": {"name": "item", "class": "A"}},
        "policy": {
            "insutype": "390",
            "med_type": "outpatient",
            "deductible": 0,
            "ratio": "0.5",
            "annual_cap": 100000,
            "reduction": {"unfiled": None},
        },
        "state": {},
        "visit": {"filing": "none", "use_account": False},
        "lines": [{"code": "A1", "quantity": "2", "unit_price": 100, "amount": 201}],
    }

    assert run_case(case) == {"error": "AMOUNT_MISMATCH"}
    case["lines"][0]["amount"] = 200  # 2 × 100: the line is fine, now the policy refuses
    assert run_case(case) == {"error": "FILING_REQUIRED"}


def test_the_second_admission_of_the_year_uses_the_subsequent_deductible():
    bill = classify([line("A1", "1", 100000)], {"A1": item("A1", "A")})
    policy = outpatient_policy(
        med_type=MedType.INPATIENT,
        deductible=120000,
        deductible_subsequent=60000,
        ratio=Decimal("0.90"),
    )

    first = compute_split(bill.pieces, policy, PersonState(), FilingCategory.LONG_TERM, False)
    second = compute_split(
        bill.pieces, policy, PersonState(admissions=1), FilingCategory.LONG_TERM, False
    )

    assert (first.act_pay_dedc, first.hifp_pay) == (100000, 0)  # all under the 120000 deductible
    # 60000 deductible, then (100000 − 60000) × 0.90 = 36000 from the fund
    assert (second.act_pay_dedc, second.hifp_pay) == (60000, 36000)


def test_a_reduction_larger_than_the_ratio_leaves_the_fund_paying_nothing():
    bill = classify([line("A1", "1", 1000)], {"A1": item("A1", "A")})
    policy = outpatient_policy(ratio=Decimal("0.10"), reduction=Reduction(other=Decimal("0.20")))

    split = compute_split(bill.pieces, policy, PersonState(), FilingCategory.OTHER, False)

    assert split.ratio_applied == Decimal(0)  # 0.10 − 0.20 clamped to 0
    assert split.hifp_pay == 0
    assert split.psn_cash_pay == 1000


def test_an_unfiled_visit_is_settled_at_the_reduced_ratio_when_the_policy_allows_it():
    bill = classify([line("A1", "1", 1000)], {"A1": item("A1", "A")})
    policy = outpatient_policy(ratio=Decimal("0.85"), reduction=Reduction(unfiled=Decimal("0.20")))

    split = compute_split(bill.pieces, policy, PersonState(), FilingCategory.NONE, False)

    assert split.ratio_applied == Decimal("0.65")  # 0.85 − 0.20
    assert split.hifp_pay == 650  # 1000 × 0.65
