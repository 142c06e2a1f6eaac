"""The ledger's rules and the clearing calendar (DESIGN.md §4.6): what a transfer may be, what a
settle and a cancel post, the trial balance, periods and their windows, and reserve alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.domain import ledger as acc
from tongban.domain.clearing import Period, reserve_alerts, window_end
from tongban.domain.ledger import (
    Balance,
    EventKind,
    LedgerAudit,
    Transfer,
    home_postings,
    opening_balance,
    trial_balance,
    validate,
    visit_postings,
)
from tongban.errors import InvalidInput

properties = settings(deadline=None, max_examples=100)


def good(**changes: object) -> Transfer:
    fields: dict[str, object] = {
        "transfer_id": "v:s1:settle:fund",
        "debit": "due_from_home:330700",
        "credit": "due_to_hospital:H31000000001",
        "amount": 100,
        "code": "settle.fund",
        "ref": "s1",
    }
    fields.update(changes)
    return Transfer(**fields)  # type: ignore[arg-type]


def balances_of(transfers: Iterable[Transfer]) -> dict[str, Balance]:
    """Debits and credits per account, summed here (not by the code under test)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in transfers:
        sums[t.debit][0] += t.amount
        sums[t.credit][1] += t.amount
    return {a: Balance(a, d, c) for a, (d, c) in sums.items()}


# --------------------------------------------------------------------------- validate
def test_a_well_formed_transfer_group_is_accepted() -> None:
    validate([good(), good(transfer_id="v:s1:settle:account", code="settle.account")])
    validate([])


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        (0, "zero"),
        (-1, "negative"),
        (-100_000, "negative"),
        (1.0, "a float, even a whole one"),
        (0.5, "a float"),
        (True, "a bool (an int subclass)"),
        (False, "a bool"),
        (Decimal("100"), "a Decimal"),
        ("100", "a string"),
        (None, "missing"),
    ],
)
def test_an_amount_that_is_not_a_positive_integer_of_fen_is_refused(
    amount: object, why: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate([good(amount=amount)])
    assert refused.value.code == "INVALID_AMOUNT", why


def test_a_transfer_from_an_account_to_itself_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate([good(credit="due_from_home:330700")])
    assert refused.value.code == "INVALID_TRANSFER"


@pytest.mark.parametrize(
    "transfer_id",
    ["", "with space", "x" * 129, "semi;colon", "slash/id", "汉字", "new\nline"],
)
def test_a_bad_transfer_id_is_refused(transfer_id: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate([good(transfer_id=transfer_id)])
    assert refused.value.code == "INVALID_TRANSFER"


def test_the_longest_allowed_transfer_id_is_accepted() -> None:
    validate([good(transfer_id="x" * 128)])


def test_the_same_transfer_id_twice_in_one_group_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate([good(), good(debit="fund_expense", credit="due_to_visit:310000")])
    assert refused.value.code == "INVALID_TRANSFER"


@pytest.mark.parametrize(
    "account",
    [
        "",
        "Fund_expense",  # the kind is lower case
        "fund expense",
        "fund-expense",
        "due_to_visit:",  # a qualifier, when there is one, is not empty
        "due_to_visit:310 000",
        "due_to_visit:310000:extra",
        "x" * 33,
        "reserve:" + "1" * 65,
        ":310000",
    ],
)
@pytest.mark.parametrize("side", ["debit", "credit"])
def test_a_bad_account_name_on_either_side_is_refused(account: str, side: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate([good(**{side: account})])
    assert refused.value.code == "INVALID_ACCOUNT"


def test_one_bad_transfer_refuses_the_whole_group() -> None:
    group = [good(), good(transfer_id="v:s1:settle:account", amount=0)]
    with pytest.raises(InvalidInput):
        validate(group)


def test_account_names_say_what_the_account_is() -> None:
    assert acc.due_from_home("330700") == "due_from_home:330700"
    assert acc.due_to_hospital("H31000000001") == "due_to_hospital:H31000000001"
    assert acc.due_to_visit("310000") == "due_to_visit:310000"
    assert acc.personal_account(7) == "personal_account:7"
    assert acc.reserve("320100") == "reserve:320100"
    assert acc.clearing_of("2026-03") == "clearing:2026-03"


def test_the_content_hash_changes_with_any_content_but_not_with_the_id() -> None:
    base = good()
    assert good(transfer_id="other").content_hash() == base.content_hash()
    for change in (
        {"debit": "fund_expense"},
        {"credit": "due_to_visit:310000"},
        {"amount": 101},
        {"code": "cancel.fund"},
        {"ref": "s2"},
    ):
        assert good(**change).content_hash() != base.content_hash(), change


# --------------------------------------------------------------------------- postings
amounts = st.integers(0, 10**9)


@properties
@given(fund=amounts, account=amounts)
def test_a_settle_then_its_cancel_return_every_account_of_both_nodes_to_zero(
    fund: int, account: int
) -> None:
    sid, home, visit, inst, person = "s-1", "330700", "310000", "H31000000001", 42
    settle = visit_postings(sid, EventKind.SETTLE, home, inst, fund, account) + home_postings(
        sid, EventKind.SETTLE, visit, person, fund, account
    )
    cancel = visit_postings(sid, EventKind.CANCEL, home, inst, fund, account) + home_postings(
        sid, EventKind.CANCEL, visit, person, fund, account
    )
    validate(settle + cancel)  # ids differ between the settle and the cancel
    assert all(t.amount > 0 for t in settle + cancel)  # zero legs are not posted

    after_settle = balances_of(settle)
    if fund + account:
        assert after_settle[acc.due_from_home(home)].debit_balance == fund + account
        assert after_settle[acc.due_to_hospital(inst)].credit_balance == fund + account
        assert after_settle[acc.due_to_visit(visit)].credit_balance == fund + account
    if fund:
        assert after_settle[acc.FUND_EXPENSE].debit_balance == fund
    if account:
        assert after_settle[acc.personal_account(person)].debit_balance == account
    debits, credits = trial_balance(after_settle.values())
    assert debits == credits == 2 * (fund + account)

    for b in balances_of(settle + cancel).values():
        assert b.debit_balance == 0, b.account


def test_postings_of_a_settle_name_the_settlement_and_leave_out_zero_legs() -> None:
    visit = visit_postings("s-9", EventKind.SETTLE, "330700", "H31000000001", 1200, 0)
    assert visit == [
        Transfer(
            "v:s-9:settle:fund",
            "due_from_home:330700",
            "due_to_hospital:H31000000001",
            1200,
            "settle.fund",
            "s-9",
        )
    ]
    home = home_postings("s-9", EventKind.CANCEL, "310000", 3, 0, 500)
    assert home == [
        Transfer(
            "h:310000:s-9:cancel:account",
            "due_to_visit:310000",
            "personal_account:3",
            500,
            "cancel.account",
            "s-9",
        )
    ]
    assert visit_postings("s-0", EventKind.SETTLE, "330700", "H31000000001", 0, 0) == []


def test_an_opening_balance_funds_the_personal_account_and_nothing_is_posted_for_zero() -> None:
    (opening,) = opening_balance(5, 2000)
    assert (opening.debit, opening.credit, opening.amount) == (
        acc.ACCOUNT_FUNDING,
        "personal_account:5",
        2000,
    )
    validate([opening])
    assert opening_balance(5, 0) == []


def test_a_correction_is_a_new_transfer_the_other_way() -> None:
    original = good()
    correction = original.reversed("corr:1", "correction")
    assert (correction.debit, correction.credit) == (original.credit, original.debit)
    assert (correction.amount, correction.ref, correction.transfer_id) == (100, "s1", "corr:1")
    for b in balances_of([original, correction]).values():
        assert b.debit_balance == 0


# --------------------------------------------------------------------------- trial balance
def test_the_trial_balance_sums_debits_and_credits_over_all_accounts() -> None:
    books = [Balance("a", 100, 30), Balance("b", 0, 50), Balance("c", 20, 40)]
    assert trial_balance(books) == (120, 120)
    assert trial_balance([]) == (0, 0)
    assert trial_balance([Balance("a", 10, 0)]) == (10, 0)


def test_balances_read_from_either_side() -> None:
    b = Balance("due_to_visit:310000", 300, 1000)
    assert (b.debit_balance, b.credit_balance) == (-700, 700)


def test_an_audit_is_sound_only_when_balanced_with_every_account_opened_and_no_bad_row() -> None:
    assert LedgerAudit(transfers=2, debits=50, credits=50).sound
    assert not LedgerAudit(debits=50, credits=49).sound
    assert not LedgerAudit(debits=50, credits=49).balanced
    assert not LedgerAudit(unopened_accounts=["fund_expense"]).sound
    assert not LedgerAudit(bad_transfers=["t1"]).sound


@properties
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(1, 10**6),
        ),
        max_size=30,
    )
)
def test_any_set_of_valid_transfers_balances(legs: list[tuple[str, str, int]]) -> None:
    transfers = [
        Transfer(f"t{i}", d, c, amount, "x") for i, (d, c, amount) in enumerate(legs) if d != c
    ]
    validate(transfers)
    debits, credits = trial_balance(balances_of(transfers).values())
    assert debits == credits == sum(t.amount for t in transfers)


# --------------------------------------------------------------------------- periods
def test_a_period_is_parsed_from_year_and_month() -> None:
    assert Period.parse("2026-03") == Period(2026, 3)
    assert Period.parse(" 2026-12 ") == Period(2026, 12)
    assert str(Period(2026, 3)) == "2026-03"
    assert Period(2025, 12) < Period(2026, 1) < Period(2026, 2)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026",
        "2026-3",
        "2026-00",
        "2026-13",
        "26-03",
        "2026/03",
        "2026-03-01",
        "1999-12",
        "3000-01",
        "2026-03x",
        "2026-03\n01",
    ],
)
def test_anything_but_a_yyyy_mm_month_is_not_a_period(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Period.parse(text)
    assert refused.value.code == "INVALID_PERIOD"


@pytest.mark.parametrize("text", ["２０２６-03", "٢٠٢٦-03"])
def test_a_period_written_in_other_digits_than_ascii_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        Period.parse(text)


def test_next_and_previous_cross_the_year() -> None:
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).previous() == Period(2026, 12)
    assert Period(2026, 3).next() == Period(2026, 4)
    assert Period(2026, 3).previous() == Period(2026, 2)


@properties
@given(st.integers(2000, 2998), st.integers(1, 12))
def test_next_and_previous_undo_each_other_and_months_tile_the_calendar(
    year: int, month: int
) -> None:
    p = Period(year, month)
    assert p.next().previous() == p
    if year > 2000 or month > 1:
        assert p.previous().next() == p
    assert p.ends_at == p.next().starts_at
    assert p.next() > p
    assert Period.parse(str(p)) == p


def test_a_period_runs_from_midnight_shanghai_on_the_first() -> None:
    p = Period(2026, 3)
    assert p.starts_at.astimezone(UTC) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert p.ends_at.astimezone(UTC) == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


def test_the_period_of_a_moment_is_its_month_in_shanghai() -> None:
    # 2026-03-31 16:30 UTC is already 1 April 00:30 in Shanghai.
    assert Period.of(datetime(2026, 3, 31, 16, 30, tzinfo=UTC)) == Period(2026, 4)
    assert Period.of(datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)) == Period(2026, 3)
    assert Period.of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == Period(2027, 1)


def test_a_run_after_the_month_stops_at_its_end_and_one_during_the_month_stops_now() -> None:
    p = Period(2026, 3)
    after = p.ends_at + timedelta(days=2)
    during = p.starts_at + timedelta(days=10, hours=3)
    assert window_end(p, after) == p.ends_at
    assert window_end(p, during) == during
    assert window_end(p, p.ends_at) == p.ends_at


# --------------------------------------------------------------------------- reserve alerts
def alerted(balances: dict[str, int], payments: dict[str, list[int]], months: str) -> set[str]:
    return {a.region for a in reserve_alerts(balances, payments, Decimal(months))}


def test_a_reserve_below_the_threshold_months_of_average_payments_alerts() -> None:
    # Average monthly payment 1,000 fen; 2 months' worth is 2,000 fen.
    payments = {"330700": [800, 1200]}
    assert alerted({"330700": 1999}, payments, "2") == {"330700"}
    assert alerted({"330700": 2000}, payments, "2") == set()  # exactly at it: no alert
    assert alerted({"330700": 5000}, payments, "2") == set()
    assert alerted({"330700": 1500}, payments, "1.5") == set()
    assert alerted({"330700": 1499}, payments, "1.5") == {"330700"}


def test_months_a_region_received_count_as_paying_nothing() -> None:
    # Paid 3,000 in one month, received in the other: average (3,000 + 0) / 2 = 1,500.
    (alert,) = reserve_alerts({"330700": 2000}, {"330700": [3000, -4000]}, Decimal(2))
    assert alert.monthly_average == 1500
    assert alert.months_covered == Decimal("1.33")
    assert alert.balance == 2000
    assert "330700" in alert.message


def test_a_negative_reserve_always_alerts_even_for_a_region_that_never_paid() -> None:
    alerts = reserve_alerts(
        {"310000": -1, "320100": -8361, "330700": 0},
        {"310000": [-5000], "320100": [8361]},
        Decimal(2),
    )
    assert [a.region for a in alerts] == ["310000", "320100"]
    never_paid = alerts[0]
    assert never_paid.monthly_average == 0 and never_paid.months_covered is None
    assert "n/a" in never_paid.message
    assert alerts[1].months_covered == Decimal("-1.00")


def test_a_region_that_only_receives_never_alerts_while_its_reserve_is_not_negative() -> None:
    assert alerted({"310000": 0}, {"310000": [-100, -200]}, "2") == set()
    assert alerted({"310000": 10}, {}, "2") == set()
