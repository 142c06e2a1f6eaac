"""The explained split (domain/explanation.py) adds up, for splits made by the real rules.

Random catalogues, bills, policies and people go through ``classify`` and ``compute_split``
(DESIGN.md §4.1-4.2) and then through the same JSON the nodes store and send (the visit node's
classified lines and catalogue entries, the home node's split); the steps a resident reads
must then add up to her bill, whatever the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.domain.catalogue import BillLine, CatalogueItem, CoverageClass, classify
from tongban.domain.explanation import explain
from tongban.domain.policy import (
    AccountPiece,
    FilingCategory,
    InsuType,
    MedType,
    PersonState,
    Policy,
    Reduction,
    compute_split,
)
from tongban.service_layer import wire
from tongban.service_layer.region_view import catalogue_out

CODES = [f"00110200001{i:04d}" for i in range(6)]  # some in the drawn catalogue, some not
SPLIT_STEPS = ["pieces", "deductible", "ratio", "account", "cash"]
LINE_PIECES = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")

ratios = st.integers(0, 100).map(lambda n: Decimal(n).scaleb(-2))
fen = st.integers(0, 10**6)
quantities = st.one_of(
    st.integers(1, 5000).map(lambda n: Decimal(n).scaleb(-3)),
    st.integers(1, 20).map(Decimal),
    st.sampled_from(["0.5", "1.5", "0.125"]).map(Decimal),
)


@st.composite
def catalogues(draw: st.DrawFn) -> dict[str, CatalogueItem]:
    codes = draw(st.lists(st.sampled_from(CODES), unique=True))
    return {
        code: CatalogueItem(
            code,
            f"药品{code[-2:]}",
            draw(st.sampled_from(CoverageClass)),
            draw(ratios),
            draw(st.none() | fen),
        )
        for code in codes
    }


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        insutype=draw(st.sampled_from(InsuType)).value,
        med_type=draw(st.sampled_from(MedType)),
        deductible=draw(fen),
        ratio=draw(ratios),
        annual_cap=draw(st.integers(0, 10**7)),
        reduction=Reduction(draw(ratios), draw(ratios), draw(ratios), draw(st.none() | ratios)),
        account_covers=draw(st.frozensets(st.sampled_from(AccountPiece))),
        deductible_subsequent=draw(st.none() | fen),
        level=draw(st.sampled_from([1, 2, 3])),
    )


@dataclass(frozen=True)
class Settled:
    """A settlement as the resident's home node sees it, and what went into it."""

    split: dict[str, Any]
    lines: list[dict[str, Any]]
    catalogue: dict[str, dict[str, Any]]
    policy: Policy
    state: PersonState


def _stored(value: Any) -> Any:
    return json.loads(json.dumps(value))  # as read back from a node's database or a message


@st.composite
def settlements(draw: st.DrawFn) -> Settled:
    catalogue = draw(catalogues())
    lines = draw(
        st.lists(
            st.builds(BillLine, code=st.sampled_from(CODES), quantity=quantities, unit_price=fen),
            max_size=8,
        )
    )
    policy = draw(policies())
    state = PersonState(
        deductible_used=draw(st.integers(0, 2 * 10**6)),
        fund_paid=draw(st.integers(0, 2 * 10**7)),  # may be past the annual cap already
        account_balance=draw(st.integers(0, 10**6)),
        admissions=draw(st.integers(0, 3)),
    )
    categories = [
        c
        for c in FilingCategory
        if c is not FilingCategory.NONE or policy.reduction.unfiled is not None
    ]
    bill = classify(lines, catalogue)
    split = compute_split(
        bill.pieces, policy, state, draw(st.sampled_from(categories)), draw(st.booleans())
    )
    # What the visit node answers: the entries of the codes billed that its catalogue holds.
    entries = {
        line.code: catalogue_out(catalogue[line.code])
        for line in bill.lines
        if line.code in catalogue
    }
    return Settled(
        _stored(wire.split_to_json(split)),
        _stored([wire.line_to_json(line) for line in bill.lines]),
        _stored(entries),
        policy,
        state,
    )


def explained(s: Settled) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    steps = explain(s.split, s.lines, s.catalogue)
    return steps[: len(s.lines)], {step["step"]: step for step in steps[len(s.lines) :]}


@settings(deadline=None)
@given(settlements())
def test_there_is_one_line_step_per_bill_line_in_order_then_the_split_steps(s: Settled) -> None:
    steps = explain(s.split, s.lines, s.catalogue)
    assert [step["step"] for step in steps] == ["line"] * len(s.lines) + SPLIT_STEPS
    for step, line in zip(steps, s.lines, strict=False):
        assert (step["code"], step["name"], step["class"]) == (
            line["code"],
            line["name"],
            line["class"],
        )
        assert (step["quantity"], step["unit_price"], step["amount"]) == (
            line["quantity"],
            line["unit_price"],
            line["amount"],
        )
        assert all(step[piece] == line[piece] for piece in LINE_PIECES)


@settings(deadline=None)
@given(settlements())
def test_the_line_steps_add_up_to_the_pieces_and_the_pieces_to_the_bill(s: Settled) -> None:
    lines, steps = explained(s)
    pieces = steps["pieces"]
    assert pieces["ownpay"] == sum(line["fulamt_ownpay_amt"] for line in lines)
    assert pieces["overlimit"] == sum(line["overlmt_selfpay"] for line in lines)
    assert pieces["preselfpay"] == sum(line["preselfpay_amt"] for line in lines)
    assert pieces["covered"] == sum(line["inscp_scp_amt"] for line in lines)
    assert pieces["medfee"] == sum(line["amount"] for line in lines)
    assert (
        pieces["ownpay"] + pieces["overlimit"] + pieces["preselfpay"] + pieces["covered"]
        == pieces["medfee"]
        == s.split["medfee_sumamt"]
    )


@settings(deadline=None)
@given(settlements())
def test_deductible_fund_and_copay_share_the_covered_part(s: Settled) -> None:
    _, steps = explained(s)
    covered = steps["pieces"]["covered"]
    deductible, ratio = steps["deductible"], steps["ratio"]
    assert deductible["covered"] == covered
    assert ratio["base"] == covered - deductible["amount"]
    assert deductible["amount"] + ratio["fund"] + ratio["copay"] == covered
    assert ratio["fund"] == s.split["hifp_pay"]
    assert Decimal(ratio["ratio"]) == Decimal(s.split["ratio_applied"])


@settings(deadline=None)
@given(settlements())
def test_account_and_cash_pay_what_the_fund_did_not(s: Settled) -> None:
    _, steps = explained(s)
    medfee, fund = steps["pieces"]["medfee"], steps["ratio"]["fund"]
    assert steps["account"]["amount"] + steps["cash"]["amount"] == medfee - fund
    assert steps["account"]["amount"] <= s.state.account_balance


@settings(deadline=None)
@given(settlements())
def test_every_amount_of_every_step_is_whole_fen_and_never_negative(s: Settled) -> None:
    for step in explain(s.split, s.lines, s.catalogue):
        for name, value in step.items():
            if name in ("step", "code", "name", "class", "quantity", "ratio", "selfpay_ratio"):
                continue
            if name == "price_cap" and value is None:
                continue
            assert type(value) is int and value >= 0, (step["step"], name, value)


@settings(deadline=None)
@given(settlements())
def test_a_fund_share_below_the_ratio_only_means_the_annual_cap_was_reached(s: Settled) -> None:
    # The page says so in words ("the annual cap was reached"): it must be true.
    _, steps = explained(s)
    ratio = steps["ratio"]
    share = ratio["base"] * Decimal(ratio["ratio"])
    assert ratio["fund"] <= share + Decimal("0.5")  # rounded to the fen, never more
    if ratio["fund"] < share - Decimal("0.5"):
        assert s.state.fund_paid + ratio["fund"] >= s.policy.annual_cap


@settings(deadline=None)
@given(settlements())
def test_each_line_shows_its_codes_ratio_and_cap_or_none_once_the_code_is_unknown(
    s: Settled,
) -> None:
    lines, _ = explained(s)
    for line in lines:
        entry = s.catalogue.get(line["code"])
        if entry is None:
            assert (line["selfpay_ratio"], line["price_cap"]) == (None, None)
        else:
            assert line["selfpay_ratio"] == entry["selfpay_ratio"]
            assert line["price_cap"] == entry["price_cap"]


@settings(deadline=None)
@given(settlements())
def test_without_the_lines_the_split_is_explained_all_the_same(s: Settled) -> None:
    _, with_lines = explained(s)
    alone = explain(s.split, None)
    assert [step["step"] for step in alone] == SPLIT_STEPS
    assert {step["step"]: step for step in alone} == with_lines
