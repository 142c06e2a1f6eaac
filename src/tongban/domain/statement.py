"""A region's clearing statement (清算单) for one period, and the node's check of it.

The hub builds one statement per region: what each home region owes it as visit region, what it
owes each visit region as home region, resolved exceptions of earlier periods cleared now, the
exceptions held out, and the net. The node checks the in-window part against its own records
before it confirms: a statement is confirmed because it adds up, not because it arrived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tongban.domain.clearing import MatchException, Obligation, SettlementEvent


@dataclass(frozen=True, slots=True)
class CarriedItem:
    """An earlier period's exception, resolved and cleared in this period (signed amounts)."""

    visit_region: str
    settlement_id: str
    event: str
    home_region: str
    resolution: str
    medfee_sumamt: int
    hifp_pay: int
    acct_pay: int

    @property
    def sign(self) -> int:
        return 1 if self.event == "settle" else -1

    @property
    def amount(self) -> int:
        """The money that moves for it: a cancel moves it back."""
        return self.sign * (self.hifp_pay + self.acct_pay)

    def as_obligation(self) -> Obligation:
        s = self.sign
        return Obligation(
            self.home_region,
            self.visit_region,
            s,
            s * self.medfee_sumamt,
            s * self.hifp_pay,
            s * self.acct_pay,
        )


def _line(o: Obligation, counterpart: str, name: str) -> dict[str, Any]:
    return {
        name: counterpart,
        "events": o.events,
        "medfee_sumamt": o.medfee_sumamt,
        "hifp_pay": o.hifp_pay,
        "acct_pay": o.acct_pay,
        "amount": o.amount,
    }


def _event(e: SettlementEvent | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "institution_code": e.institution_code,
        "medfee_sumamt": e.medfee_sumamt,
        "hifp_pay": e.hifp_pay,
        "acct_pay": e.acct_pay,
    }


def build_statement(
    period: str,
    region: str,
    window: tuple[str | None, str],
    issued_at: str,
    in_window: Sequence[Obligation],
    carried: Sequence[CarriedItem],
    exceptions: Sequence[MatchException],
) -> dict[str, Any]:
    """The statement of ``region``; every total in it is a sum of its own lines."""
    as_visit = [
        _line(o, o.home_region, "home_region")
        for o in in_window
        if o.visit_region == region and o.home_region != region
    ]
    as_home = [
        _line(o, o.visit_region, "visit_region")
        for o in in_window
        if o.home_region == region and o.visit_region != region
    ]
    mine = [c for c in carried if region in (c.visit_region, c.home_region)]
    receivable = sum(x["amount"] for x in as_visit) + sum(
        c.amount for c in mine if c.visit_region == region
    )
    payable = sum(x["amount"] for x in as_home) + sum(
        c.amount for c in mine if c.home_region == region
    )
    held = []
    for x in exceptions:
        view = x.visit or x.home
        assert view is not None
        # Every region either view names holds it out (a view may name the wrong home).
        parties = {r for v in (x.visit, x.home) if v for r in (v.visit_region, v.home_region)}
        if region in parties:
            held.append(
                {
                    "visit_region": view.visit_region,
                    "settlement_id": view.settlement_id,
                    "event": view.event.value,
                    "home_region": view.home_region,
                    "kind": x.kind.value,
                    "visit_view": _event(x.visit),
                    "home_view": _event(x.home),
                }
            )
    return {
        "period": period,
        "region": region,
        "window": {"from": window[0], "to": window[1]},
        "issued_at": issued_at,
        "as_visit": as_visit,
        "as_home": as_home,
        "carried": [
            {
                "visit_region": c.visit_region,
                "settlement_id": c.settlement_id,
                "event": c.event,
                "home_region": c.home_region,
                "resolution": c.resolution,
                "hifp_pay": c.hifp_pay,
                "acct_pay": c.acct_pay,
                "amount": c.amount,
            }
            for c in mine
        ],
        "exceptions": held,
        "receivable": receivable,
        "payable": payable,
        "net": receivable - payable,
    }


def statement_problems(
    statement: Mapping[str, Any], region: str, own_events: Iterable[SettlementEvent]
) -> list[str]:
    """Why a node should dispute ``statement``; empty when it adds up against its records.

    ``own_events`` are the node's events in the statement's window, both roles. The node takes
    out the events it reported that the statement holds out as exceptions, sums the rest per
    counterpart, and must find exactly the statement's lines.
    """
    problems = []
    if statement.get("region") != region:
        return [f"statement is for {statement.get('region')}, not {region}"]
    lines_v = {x["home_region"]: x for x in statement["as_visit"]}
    lines_h = {x["visit_region"]: x for x in statement["as_home"]}
    receivable = sum(x["amount"] for x in statement["as_visit"]) + sum(
        c["amount"] for c in statement["carried"] if c["visit_region"] == region
    )
    payable = sum(x["amount"] for x in statement["as_home"]) + sum(
        c["amount"] for c in statement["carried"] if c["home_region"] == region
    )
    for line in [*statement["as_visit"], *statement["as_home"]]:
        if line["amount"] != line["hifp_pay"] + line["acct_pay"]:
            problems.append(f"a line's amount {line['amount']} is not its fund plus account")
    for c in statement["carried"]:
        sign = 1 if c["event"] == "settle" else -1
        if c["amount"] != sign * (c["hifp_pay"] + c["acct_pay"]):
            problems.append(f"carried {c['settlement_id']}: amount is not fund plus account")
    if (receivable, payable) != (statement["receivable"], statement["payable"]):
        problems.append("the statement's totals are not the sums of its lines")
    if statement["net"] != receivable - payable:
        problems.append("net is not receivable minus payable")
    held = {(x["visit_region"], x["settlement_id"], x["event"]) for x in statement["exceptions"]}
    mine_v: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    mine_h: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in own_events:
        if e.key in held or e.visit_region == e.home_region:
            continue
        sums = mine_v[e.home_region] if e.visit_region == region else mine_h[e.visit_region]
        sign = e.event.sign
        sums[0] += sign
        sums[1] += sign * e.hifp_pay
        sums[2] += sign * e.acct_pay
    for name, ours, theirs in (("as visit", mine_v, lines_v), ("as home", mine_h, lines_h)):
        for other in sorted(ours.keys() | theirs.keys()):
            mine = ours.get(other, [0, 0, 0])
            line = theirs.get(other, {"events": 0, "hifp_pay": 0, "acct_pay": 0})
            if mine != [line["events"], line["hifp_pay"], line["acct_pay"]]:
                problems.append(
                    f"{name} with {other}: our records say {mine[0]} events, fund {mine[1]},"
                    f" account {mine[2]} fen; the statement says {line['events']},"
                    f" {line['hifp_pay']}, {line['acct_pay']}"
                )
    return problems
