"""Clearing (DESIGN.md §4.6) as properties over random settlement histories.

A history is a set of cross-region settlements, some of them cancelled; each gives a settle
event (+) and, when cancelled, a cancel event (−), with fund + account ≤ medfee. Both nodes
report every event the same way; then one side's report is damaged: events dropped or their
amounts (or the institution) altered. Whatever the history and the damage:

(a) net positions sum to zero;
(b) the obligations are the signed fund + account of exactly the undamaged events, worked out
    here from the history, not by the code under test;
(c) every damaged event is an exception of the right kind, and nothing else is;
(d) the columnar engine gives exactly the reference matcher's answer;
(e) each region's statement adds up against that region's own (undamaged) records, and a
    statement with a line changed is disputed.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tongban.adapters.columnar import frame_of, match_frames
from tongban.domain.clearing import (
    ExceptionKind,
    Obligation,
    SettlementEvent,
    match_events,
    merge_obligations,
    net_positions,
)
from tongban.domain.ledger import EventKind
from tongban.domain.statement import CarriedItem, build_statement, statement_problems

properties = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

REGIONS = ["310000", "320100", "330700", "340100"]
START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = ("2026-02-28T16:00:00+00:00", "2026-03-31T16:00:00+00:00")
Key = tuple[str, str, str]


# --------------------------------------------------------------------------- strategies
@dataclass(frozen=True)
class Settlement:
    settlement_id: str
    visit_region: str
    home_region: str
    institution_code: str
    medfee: int
    fund: int
    account: int
    settled_at: datetime
    cancelled_at: datetime | None

    def events(self) -> list[SettlementEvent]:
        moments = [(EventKind.SETTLE, self.settled_at)]
        if self.cancelled_at is not None:
            moments.append((EventKind.CANCEL, self.cancelled_at))
        return [
            SettlementEvent(
                self.visit_region,
                self.settlement_id,
                kind,
                self.home_region,
                self.institution_code,
                moment,
                self.medfee,
                self.fund,
                self.account,
            )
            for kind, moment in moments
        ]


@st.composite
def settlements(draw: st.DrawFn, number: int) -> Settlement:
    visit = draw(st.sampled_from(REGIONS))
    home = draw(st.sampled_from([r for r in REGIONS if r != visit]))
    medfee = draw(st.integers(0, 2_000_000))
    fund = draw(st.integers(0, medfee))
    account = draw(st.integers(0, medfee - fund))
    settled_at = START + timedelta(microseconds=draw(st.integers(0, 20 * 86_400 * 10**6)))
    cancelled = draw(st.booleans())
    later = timedelta(microseconds=draw(st.integers(1, 5 * 86_400 * 10**6)))
    return Settlement(
        settlement_id=f"s{number:04d}-{draw(st.sampled_from(['a', 'b', 'c']))}",
        visit_region=visit,
        home_region=home,
        institution_code=f"H{visit}{draw(st.integers(1, 3)):05d}",
        medfee=medfee,
        fund=fund,
        account=account,
        settled_at=settled_at,
        cancelled_at=settled_at + later if cancelled else None,
    )


@st.composite
def histories(draw: st.DrawFn) -> list[Settlement]:
    size = draw(st.integers(0, 25))
    return [draw(settlements(i)) for i in range(size)]


# What damage does to one event of one side's report.
KEEP, DROP, AMOUNT, INSTITUTION = "keep", "drop", "amount", "institution"


@dataclass(frozen=True)
class Damage:
    side: str  # the report that is damaged: "visit" or "home"
    what: dict[Key, str]  # event key -> DROP / AMOUNT / INSTITUTION (absent: kept)
    field: dict[Key, str]  # which amount is altered
    delta: dict[Key, int]


@st.composite
def damages(draw: st.DrawFn, events: list[SettlementEvent]) -> Damage:
    side = draw(st.sampled_from(["visit", "home"]))
    what: dict[Key, str] = {}
    field: dict[Key, str] = {}
    delta: dict[Key, int] = {}
    for e in events:
        kind = draw(st.sampled_from([KEEP, KEEP, KEEP, DROP, AMOUNT, INSTITUTION]))
        if kind == KEEP:
            continue
        what[e.key] = kind
        field[e.key] = draw(st.sampled_from(["medfee_sumamt", "hifp_pay", "acct_pay"]))
        delta[e.key] = draw(st.integers(1, 5000))
    return Damage(side, what, field, delta)


def damaged(events: list[SettlementEvent], damage: Damage) -> list[SettlementEvent]:
    out = []
    for e in events:
        kind = damage.what.get(e.key, KEEP)
        if kind == DROP:
            continue
        if kind == AMOUNT:
            name = damage.field[e.key]
            e = replace(e, **{name: getattr(e, name) + damage.delta[e.key]})
        elif kind == INSTITUTION:
            e = replace(e, institution_code=e.institution_code[:-1] + "9")
        out.append(e)
    return out


def both_views(
    events: list[SettlementEvent], damage: Damage
) -> tuple[list[SettlementEvent], list[SettlementEvent]]:
    if damage.side == "visit":
        return damaged(events, damage), list(events)
    return list(events), damaged(events, damage)


# --------------------------------------------------------------------------- expectations
def expected_obligations(events: list[SettlementEvent]) -> dict[tuple[str, str], list[int]]:
    """(home, visit) -> [events, medfee, fund, account], settle + and cancel −."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        sign = 1 if e.event is EventKind.SETTLE else -1
        s = sums[(e.home_region, e.visit_region)]
        s[0] += sign
        s[1] += sign * e.medfee_sumamt
        s[2] += sign * e.hifp_pay
        s[3] += sign * e.acct_pay
    return dict(sums)


def as_table(obligations: Any) -> dict[tuple[str, str], list[int]]:
    return {
        (o.home_region, o.visit_region): [o.events, o.medfee_sumamt, o.hifp_pay, o.acct_pay]
        for o in obligations
    }


def expected_kind(damage: Damage, key: Key) -> ExceptionKind:
    if damage.what[key] == DROP:
        return ExceptionKind.HOME_ONLY if damage.side == "visit" else ExceptionKind.VISIT_ONLY
    return ExceptionKind.DIFFERS


def scenario() -> st.SearchStrategy[tuple[list[Settlement], Damage]]:
    return histories().flatmap(
        lambda h: st.tuples(st.just(h), damages([e for s in h for e in s.events()]))
    )


def all_events(history: list[Settlement]) -> list[SettlementEvent]:
    return [e for s in history for e in s.events()]


# --------------------------------------------------------------------------- (a) (b) (c)
@properties
@given(scenario())
def test_obligations_are_the_signed_money_of_exactly_the_undamaged_events(
    case: tuple[list[Settlement], Damage],
) -> None:
    history, damage = case
    events = all_events(history)
    visit, home = both_views(events, damage)

    result = match_events(visit, home)

    untouched = [e for e in events if e.key not in damage.what]
    assert result.matched == len(untouched)
    assert as_table(result.obligations) == expected_obligations(untouched)
    for o in result.obligations:
        assert o.amount == o.hifp_pay + o.acct_pay


@properties
@given(scenario())
def test_net_positions_sum_to_zero_and_are_what_each_region_is_owed_minus_what_it_owes(
    case: tuple[list[Settlement], Damage],
) -> None:
    history, damage = case
    events = all_events(history)
    result = match_events(*both_views(events, damage))

    positions = net_positions(result.obligations)

    assert sum(positions.values()) == 0
    expected: dict[str, int] = defaultdict(int)
    for e in events:
        if e.key in damage.what:
            continue
        money = (1 if e.event is EventKind.SETTLE else -1) * (e.hifp_pay + e.acct_pay)
        expected[e.visit_region] += money
        expected[e.home_region] -= money
    assert positions == dict(expected)


@properties
@given(
    st.lists(
        st.builds(
            Obligation,
            st.sampled_from(REGIONS),
            st.sampled_from(REGIONS),
            st.integers(-50, 50),
            st.integers(-(10**9), 10**9),
            st.integers(-(10**9), 10**9),
            st.integers(-(10**9), 10**9),
        ),
        max_size=20,
    ),
)
def test_net_positions_of_any_obligations_merged_in_any_grouping_sum_to_zero(
    obligations: list[Obligation],
) -> None:
    merged = merge_obligations(obligations[::2], obligations[1::2])
    positions = net_positions(merged)
    assert sum(positions.values()) == 0
    assert positions == net_positions(obligations)


@properties
@given(scenario())
def test_every_damaged_event_is_an_exception_of_the_right_kind_and_nothing_else_is(
    case: tuple[list[Settlement], Damage],
) -> None:
    history, damage = case
    events = all_events(history)
    visit, home = both_views(events, damage)

    result = match_events(visit, home)

    found = {x.key: x.kind for x in result.exceptions}
    assert found == {key: expected_kind(damage, key) for key in damage.what}
    original = {e.key: e for e in events}
    for x in result.exceptions:
        # Each exception carries each side's view as that side reported it.
        untouched_side = x.home if damage.side == "visit" else x.visit
        assert untouched_side == original[x.key]
        damaged_side = x.visit if damage.side == "visit" else x.home
        if x.kind is ExceptionKind.DIFFERS:
            assert damaged_side is not None and damaged_side != original[x.key]
        else:
            assert damaged_side is None


# --------------------------------------------------------------------------- (d)
@properties
@given(scenario())
def test_the_columnar_engine_gives_exactly_the_reference_answer(
    case: tuple[list[Settlement], Damage],
) -> None:
    history, damage = case
    visit, home = both_views(all_events(history), damage)

    reference = match_events(visit, home)
    columnar = match_frames(frame_of(visit), frame_of(home))

    assert columnar.matched == reference.matched
    assert columnar.obligations == list(reference.obligations)
    assert columnar.exceptions == list(reference.exceptions)


def test_the_columnar_engine_matches_empty_and_one_sided_reports_like_the_reference() -> None:
    one = Settlement("s1", "310000", "330700", "H31000000001", 1000, 600, 100, START, None)
    events = one.events()
    for visit, home in (([], []), (events, []), ([], events)):
        reference = match_events(visit, home)
        columnar = match_frames(frame_of(visit), frame_of(home))
        assert (columnar.matched, columnar.obligations, columnar.exceptions) == (
            reference.matched,
            list(reference.obligations),
            list(reference.exceptions),
        )


# --------------------------------------------------------------------------- (e)
def statement_of(
    region: str, history: list[Settlement], damage: Damage, carried: list[CarriedItem]
) -> dict[str, Any]:
    result = match_events(*both_views(all_events(history), damage))
    return build_statement(
        "2026-03",
        region,
        WINDOW,
        "2026-04-01T00:00:00+08:00",
        result.obligations,
        carried,
        result.exceptions,
    )


def own_events(region: str, history: list[Settlement]) -> list[SettlementEvent]:
    """A node's own records: the undamaged events it takes part in, as visit or as home."""
    return [e for e in all_events(history) if region in (e.visit_region, e.home_region)]


carried_items = st.lists(
    st.builds(
        CarriedItem,
        st.sampled_from(["310000", "320100"]),
        st.from_regex(r"c[0-9]{3}", fullmatch=True),
        st.sampled_from(["settle", "cancel"]),
        st.sampled_from(["330700", "340100"]),
        st.sampled_from(["ACCEPT_VISIT", "ACCEPT_HOME", "MATCHED_LATER"]),
        st.integers(0, 10**6),
        st.integers(0, 10**5),
        st.integers(0, 10**5),
    ),
    max_size=3,
)


@properties
@given(scenario(), carried_items)
def test_each_regions_statement_adds_up_against_its_own_records_and_nets_to_its_position(
    case: tuple[list[Settlement], Damage], carried: list[CarriedItem]
) -> None:
    history, damage = case
    result = match_events(*both_views(all_events(history), damage))
    positions = net_positions(
        merge_obligations(result.obligations, [c.as_obligation() for c in carried])
    )
    nets = 0
    for region in REGIONS:
        statement = statement_of(region, history, damage, carried)
        assert statement_problems(statement, region, own_events(region, history)) == []
        assert statement["net"] == positions.get(region, 0)
        nets += statement["net"]
        held = {
            (x["visit_region"], x["settlement_id"], x["event"]) for x in statement["exceptions"]
        }
        mine = {e.key for e in own_events(region, history) if e.key in damage.what}
        assert held == mine  # every damaged event of mine is held out, no one else's
    assert nets == 0


def tampered_choices(statement: dict[str, Any]) -> list[tuple[str, int]]:
    return [(part, i) for part in ("as_visit", "as_home") for i in range(len(statement[part]))]


@properties
@given(scenario(), st.data())
def test_a_statement_with_a_line_amount_changed_is_disputed(
    case: tuple[list[Settlement], Damage], data: st.DataObject
) -> None:
    history, damage = case
    region = data.draw(st.sampled_from(REGIONS))
    statement = statement_of(region, history, damage, [])
    choices = tampered_choices(statement)
    if not choices:
        return
    part, index = data.draw(st.sampled_from(choices))
    field = data.draw(st.sampled_from(["hifp_pay", "acct_pay"]))
    change = data.draw(st.integers(1, 10_000))
    tampered = copy.deepcopy(statement)
    tampered[part][index][field] += change
    tampered[part][index]["amount"] += change

    assert statement_problems(statement, region, own_events(region, history)) == []
    assert statement_problems(tampered, region, own_events(region, history)) != []

    # Even when the totals are made to agree with the changed line.
    sign = 1 if part == "as_visit" else -1
    tampered["receivable" if part == "as_visit" else "payable"] += change
    tampered["net"] += sign * change
    assert statement_problems(tampered, region, own_events(region, history)) != []


# --------------------------------------------------------------------------- found bugs
TWO = [
    Settlement("s1", "310000", "330700", "H31000000001", 20_000, 9_000, 1_000, START, None),
    Settlement("s2", "310000", "330700", "H31000000001", 8_000, 3_000, 0, START, None),
]


def test_a_statement_whose_line_amount_and_totals_were_changed_together_is_disputed() -> None:
    region = "330700"
    statement = statement_of(region, TWO, Damage("visit", {}, {}, {}), [])
    (line,) = statement["as_home"]
    assert line["amount"] == 9_000 + 1_000 + 3_000 + 0
    tampered = copy.deepcopy(statement)
    tampered["as_home"][0]["amount"] += 5_000  # Jinhua would pay 5,000 fen more
    tampered["payable"] += 5_000
    tampered["net"] -= 5_000

    assert statement_problems(tampered, region, own_events(region, TWO)) != []


def test_an_event_reported_with_another_home_region_is_held_out_of_both_home_regions() -> None:
    real_home, wrong_home = "330700", "320100"
    history = TWO
    events = all_events(history)
    visit = [replace(e, home_region=wrong_home) if e.settlement_id == "s1" else e for e in events]
    result = match_events(visit, events)
    assert [(x.key, x.kind) for x in result.exceptions] == [
        (("310000", "s1", "settle"), ExceptionKind.DIFFERS)
    ]
    statement = build_statement(
        "2026-03", real_home, WINDOW, "t", result.obligations, [], result.exceptions
    )

    assert statement_problems(statement, real_home, own_events(real_home, history)) == []
