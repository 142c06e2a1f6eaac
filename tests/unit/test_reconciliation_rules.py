"""Daily reconciliation (对账) rules: signed totals, line comparison, the hospital's input.

Figures are worked out by hand in the comments; the property tests check what a hospital
relies on: its own correct books always balance, and any one wrong line is found, alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.domain.ledger import EventKind
from tongban.domain.reconciliation import (
    MAX_LINES,
    Difference,
    EventLine,
    Totals,
    check_listing,
    check_listing_size,
    check_range,
    compare_lines,
    compare_totals,
    hospital_totals,
    parse_line,
    parse_totals,
    totals_by_insutype,
)
from tongban.errors import InvalidInput

SETTLE, CANCEL = EventKind.SETTLE, EventKind.CANCEL


def line(
    sid: str,
    event: EventKind = SETTLE,
    insutype: str = "310",
    medfee: int = 10000,
    fund: int = 6000,
    account: int = 1000,
) -> EventLine:
    return EventLine(sid, event, insutype, medfee, fund, account)


def raw(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "settlement_id": "his-1",
        "event": "settle",
        "insutype": "310",
        "medfee_sumamt": 14251,
        "fund_pay": 0,
        "acct_pay": 2000,
    }
    return {**base, **changes}


def refused(code: str) -> pytest.RaisesExc[InvalidInput]:
    return pytest.raises(InvalidInput, check=lambda e: e.code == code)


# --- totals --------------------------------------------------------------------------------
def test_a_settlement_cancelled_the_same_day_nets_to_nothing_but_both_events_are_counted() -> None:
    totals = totals_by_insutype([line("a"), line("a", CANCEL)])
    assert totals == {"310": Totals(settle_count=1, cancel_count=1)}
    assert totals["310"].count == 0


def test_totals_are_signed_by_event_and_kept_apart_by_insutype() -> None:
    # 310: +10,000/6,000/1,000 + 5,000/0/2,000 − 10,000/6,000/1,000 = 5,000/0/2,000, count 1.
    # 390: a cancel alone (its settle was on an earlier day): −3,000/1,500/0, count −1.
    totals = totals_by_insutype(
        [
            line("a"),
            line("b", medfee=5000, fund=0, account=2000),
            line("a", CANCEL),
            line("c", CANCEL, "390", 3000, 1500, 0),
        ]
    )
    assert totals["310"] == Totals(2, 1, 5000, 0, 2000)
    assert totals["310"].count == 1
    assert totals["390"] == Totals(0, 1, -3000, -1500, 0)
    assert totals["390"].count == -1


def test_an_insutype_nobody_used_compares_as_zero_on_both_sides() -> None:
    compared = compare_totals({"310": Totals(1, 0, 100, 50, 0)}, {"310": Totals(1, 0, 100, 50, 0)})
    assert [(c.insutype, c.balanced) for c in compared] == [("310", True), ("390", True)]
    assert compared[1].node == compared[1].hospital == Totals()


def test_one_fen_of_difference_in_one_insutype_unbalances_only_that_insutype() -> None:
    compared = compare_totals(
        {"310": Totals(1, 0, 100, 50, 0), "390": Totals(2, 0, 10, 0, 0)},
        {"310": Totals(1, 0, 100, 50, 0), "390": Totals(2, 0, 10, 0, 1)},
    )
    assert [(c.insutype, c.balanced) for c in compared] == [("310", True), ("390", False)]


# --- lines -------------------------------------------------------------------------------
def test_each_kind_of_difference_is_named_with_what_each_side_holds() -> None:
    node = [line("only-node"), line("both"), line("changed"), line("changed", CANCEL)]
    hospital = [
        line("both"),
        line("changed", fund=5999),
        line("changed", CANCEL, "390"),
        line("only-hospital"),
    ]
    found = {(d.settlement_id, d.event, d.kind, d.fields) for d in compare_lines(node, hospital)}
    assert found == {
        ("only-node", SETTLE, Difference.MISSING_AT_HOSPITAL, ()),
        ("only-hospital", SETTLE, Difference.MISSING_AT_NODE, ()),
        ("changed", SETTLE, Difference.DIFFERS, ("fund_pay",)),
        ("changed", CANCEL, Difference.DIFFERS, ("insutype",)),
    }


def test_differences_come_in_settlement_order_with_a_settle_before_its_cancel() -> None:
    found = compare_lines([line("b", CANCEL), line("b"), line("a")], [])
    assert [(d.settlement_id, d.event) for d in found] == [
        ("a", SETTLE),
        ("b", SETTLE),
        ("b", CANCEL),
    ]


def test_a_settlement_the_node_still_waits_on_is_no_difference_until_the_hospital_lists_it() -> (
    None
):
    waiting = line("in-flight", medfee=2500, fund=0, account=0)
    assert compare_lines([line("a")], [line("a")], unresolved=[waiting]) == []
    (found,) = compare_lines([line("a")], [line("a"), line("in-flight")], unresolved=[waiting])
    assert (found.settlement_id, found.kind) == ("in-flight", Difference.UNRESOLVED_AT_NODE)
    assert found.node == waiting and found.hospital == line("in-flight")


# --- the hospital's input ------------------------------------------------------------------
def test_a_detail_line_is_read_from_json_values_or_csv_text_alike() -> None:
    expected = EventLine("his-1", CANCEL, "390", 14251, 0, 2000)
    assert parse_line(raw(event="cancel", insutype="390"), 1) == expected
    text = {k: str(v) for k, v in raw(event="CANCEL", insutype="390").items()}
    assert parse_line(text, 1) == expected


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"medfee_sumamt": 14251.0}, "INVALID_AMOUNT"),
        ({"fund_pay": "0.5"}, "INVALID_AMOUNT"),
        ({"fund_pay": Decimal("0.5")}, "INVALID_AMOUNT"),
        ({"acct_pay": True}, "INVALID_AMOUNT"),
        ({"acct_pay": None}, "INVALID_AMOUNT"),
        ({"acct_pay": "1e3"}, "INVALID_AMOUNT"),
        ({"medfee_sumamt": -1}, "INVALID_AMOUNT"),
        ({"medfee_sumamt": 10**15}, "INVALID_AMOUNT"),
        ({"insutype": "320"}, "UNKNOWN_INSUTYPE"),
        ({"insutype": 310}, "UNKNOWN_INSUTYPE"),
        ({"event": "refund"}, "INVALID_EVENT"),
        ({"settlement_id": "his 1"}, "INVALID_SETTLEMENT_ID"),
        ({"settlement_id": "x" * 65}, "INVALID_SETTLEMENT_ID"),
        ({"settlement_id": None}, "INVALID_SETTLEMENT_ID"),
    ],
    ids=lambda v: str(v),
)
def test_a_malformed_detail_line_is_refused_with_a_stable_code_naming_the_line(
    changes: dict[str, object], code: str
) -> None:
    with refused(code) as caught:
        parse_line(raw(**changes), 7)
    assert caught.value.extra["line"] == 7
    assert "line 7" in caught.value.detail


def test_hospital_totals_may_be_negative_in_amount_but_never_in_count() -> None:
    row = {
        "insutype": "390",
        "settle_count": 0,
        "cancel_count": 1,
        "medfee_sumamt": -3000,
        "fund_pay": -1500,
        "acct_pay": 0,
    }
    assert parse_totals(row, 1) == ("390", Totals(0, 1, -3000, -1500, 0))
    with refused("INVALID_COUNT"):
        parse_totals({**row, "settle_count": -1}, 1)
    with refused("INVALID_COUNT"):
        parse_totals({**row, "cancel_count": 1.0}, 1)
    with refused("INVALID_AMOUNT"):
        parse_totals({**row, "fund_pay": -1500.0}, 1)


def test_an_insutype_given_twice_in_the_totals_is_refused() -> None:
    with refused("DUPLICATE_INSUTYPE"):
        hospital_totals([("310", Totals()), ("390", Totals()), ("310", Totals())])


def test_a_settle_and_its_cancel_are_two_lines_but_the_same_event_twice_is_refused() -> None:
    check_listing([line("a"), line("a", CANCEL)])
    with refused("DUPLICATE_SETTLEMENT") as caught:
        check_listing([line("a"), line("b"), line("a", fund=0)])
    assert caught.value.extra["line"] == 3


def test_at_most_a_hundred_thousand_lines_are_compared_in_one_call() -> None:
    check_listing_size(100_000)
    assert MAX_LINES == 100_000
    with refused("TOO_MANY_LINES"):
        check_listing_size(100_001)


def test_a_range_runs_forwards_and_covers_at_most_31_days() -> None:
    check_range(date(2026, 11, 20), date(2026, 11, 20))
    check_range(date(2026, 1, 1), date(2026, 1, 31))  # a whole long month
    with refused("INVALID_DATE_RANGE"):
        check_range(date(2026, 11, 20), date(2026, 11, 19))
    with refused("RANGE_TOO_LONG"):
        check_range(date(2026, 1, 1), date(2026, 2, 1))


# --- properties ----------------------------------------------------------------------------
amounts = st.integers(min_value=0, max_value=10**9)
events = st.lists(
    st.builds(
        EventLine,
        settlement_id=st.text("abc123-", min_size=1, max_size=6),
        event=st.sampled_from(EventKind),
        insutype=st.sampled_from(["310", "390"]),
        medfee_sumamt=amounts,
        fund_pay=amounts,
        acct_pay=amounts,
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda e: e.key,
)


def balanced(node: list[EventLine], hospital: list[EventLine]) -> bool:
    compared = compare_totals(totals_by_insutype(node), totals_by_insutype(hospital))
    return all(c.balanced for c in compared)


@given(events)
def test_books_that_hold_the_same_events_always_balance_in_totals_and_in_detail(
    node: list[EventLine],
) -> None:
    hospital = list(reversed(node))  # the order of a hospital's list does not matter
    check_listing(hospital)
    assert balanced(node, hospital)
    assert compare_lines(node, hospital) == []


@given(events, st.data())
def test_an_event_missing_from_the_hospitals_list_is_reported_as_exactly_that_event(
    node: list[EventLine], data: st.DataObject
) -> None:
    gone = data.draw(st.sampled_from(node))
    hospital = [e for e in node if e is not gone]
    assert not balanced(node, hospital)  # its count is gone, whatever its amounts
    (found,) = compare_lines(node, hospital)
    assert (found.settlement_id, found.event) == gone.key
    assert found.kind is Difference.MISSING_AT_HOSPITAL and found.node == gone


@given(events, st.data())
def test_one_altered_event_is_reported_as_exactly_that_event_and_what_differs(
    node: list[EventLine], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(node) - 1))
    field = data.draw(st.sampled_from(["insutype", "medfee_sumamt", "fund_pay", "acct_pay"]))
    original = node[index]
    if field == "insutype":
        altered = replace(original, insutype="390" if original.insutype == "310" else "310")
    else:
        delta = data.draw(st.integers(1, 10**6))
        altered = replace(original, **{field: getattr(original, field) + delta})
    hospital = [*node[:index], altered, *node[index + 1 :]]
    assert not balanced(node, hospital)
    (found,) = compare_lines(node, hospital)
    assert (found.settlement_id, found.event, found.kind) == (*original.key, Difference.DIFFERS)
    assert found.fields == (field,)
    assert (found.node, found.hospital) == (original, altered)


@given(events, st.data())
def test_an_event_the_node_never_had_is_reported_as_missing_at_the_node(
    node: list[EventLine], data: st.DataObject
) -> None:
    extra = replace(data.draw(st.sampled_from(node)), settlement_id="not-at-the-node")
    (found,) = compare_lines(node, [*node, extra])
    assert (found.settlement_id, found.kind) == ("not-at-the-node", Difference.MISSING_AT_NODE)
    assert found.hospital == extra and found.node is None
