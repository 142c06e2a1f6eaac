"""Checks shared by the settlement-protocol tests: what the stores say, read directly.

The tests drive the network through its API; these helpers look underneath, at the home
node's accumulators and at both sides' settlement tables, to check that an operation changed
exactly what it should (DESIGN.md §4.2 "On commit") and that both sides agree (§4.5).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from network_fixtures import EMPLOYEE_ID, JINHUA, NANJING, NANJING_ID, RESIDENT_ID, SmallNetwork
from tongban.adapters.storage import schema

PROBLEM_JSON = "application/problem+json"
TABLES = ("visits", "visit_settlements", "outbox", "home_settlements", "filings")

# The golden bill (network_fixtures.golden_lines), classified by hand (DESIGN.md §4.1):
#   A  2,500 × 1                    → 2,500 covered
#   B  1,230 × 3 = 3,690; cap 1,200 × 3 = 3,600 → over 90; pre = 3,600 × 0.10 = 360;
#                                      covered 3,600 − 360 = 3,240
#   C  5,800 × 1                    → 5,800 fully self-paid
#   B  4,521 × 0.5 = 2,260.5 → 2,261; pre = 2,261 × 0.05 = 113.05 → 113; covered 2,148
# medfee 14,251 = ownpay 5,800 + overlimit 90 + preselfpay 473 + covered 7,888.
# Employee, state all zero, balance 2,000, unfiled: ratio 0.85 − 0.20 = 0.65;
#   act_pay_dedc = min(7,888, 150,000 − 0) = 7,888 (the whole covered part is deductible)
#   hifp_pay     = round((7,888 − 7,888) × 0.65) = 0
#   acct_pay     = min(2,000, deductible 7,888 + copay 0 + preselfpay 473) = 2,000
#   psn_part_amt = 14,251 − 0 = 14,251; psn_cash_pay = 14,251 − 2,000 = 12,251; balc 0
GOLDEN_SPLIT_EMPLOYEE = {
    "medfee_sumamt": 14251, "fulamt_ownpay_amt": 5800, "overlmt_selfpay": 90,
    "preselfpay_amt": 473, "inscp_scp_amt": 7888, "act_pay_dedc": 7888, "hifp_pay": 0,
    "acct_pay": 2000, "psn_part_amt": 14251, "psn_cash_pay": 12251, "balc": 0,
}

# A settlement's final state at the visit node, and what the home node may then hold.
AGREEING = {
    "SETTLED": {"COMMITTED"},
    "CANCELLED": {"CANCELLED"},
    "VOIDED": {"ABORTED", None},
    "REFUSED": {"REFUSED", None},
}


def people_states(net: SmallNetwork) -> dict[str, dict[str, int]]:
    """Accumulators and balances of every insured person of the small network."""
    return {
        "employee": net.person_state(JINHUA, EMPLOYEE_ID),
        "resident": net.person_state(JINHUA, RESIDENT_ID),
        "nanjing": net.person_state(NANJING, NANJING_ID),
    }


def table_counts(net: SmallNetwork) -> dict[str, dict[str, int]]:
    counts = {}
    for region, runtime in net.network.nodes.items():
        with runtime.store.read() as tx:
            counts[region] = {table: tx.count(table) for table in TABLES}
    return counts


def snapshot(net: SmallNetwork) -> dict[str, Any]:
    """Everything a settlement or a refused request could change."""
    return {"people": people_states(net), "tables": table_counts(net)}


def visit_statuses(net: SmallNetwork, region: str) -> dict[str, str]:
    """settlement id -> status, as the visit node at ``region`` stores them."""
    c = schema.visit_settlements.c
    with net.network.nodes[region].store.read() as tx:
        rows = tx.conn.execute(select(c.settlement_id, c.status))  # type: ignore[attr-defined]
        return {str(sid): str(status) for sid, status in rows}


def home_statuses(net: SmallNetwork, region: str) -> dict[str, str]:
    c = schema.home_settlements.c
    with net.network.nodes[region].store.read() as tx:
        rows = tx.conn.execute(select(c.settlement_id, c.status))  # type: ignore[attr-defined]
        return {str(sid): str(status) for sid, status in rows}


def assert_sides_agree(net: SmallNetwork) -> None:
    """For every settlement id, the visit side and the home side tell the same story.

    SETTLED↔COMMITTED with equal splits, CANCELLED↔CANCELLED, VOIDED↔ABORTED or absent,
    REFUSED↔REFUSED or absent; nothing is left PENDING/UNKNOWN/CANCELLING; and the home
    node holds no committed or cancelled settlement the visit node does not know.
    """
    nodes = net.network.nodes
    seen_at_visit: set[str] = set()
    for region in nodes:
        for sid, status in visit_statuses(net, region).items():
            seen_at_visit.add(sid)
            with nodes[region].store.read() as tx:
                visit = tx.visit_settlement(sid)
            assert visit is not None
            with nodes[visit.home_region].store.read() as tx:
                home = tx.home_settlement(region, sid)
            home_status = home.status.value if home else None
            assert status in AGREEING, f"{sid} left {status} at the visit node"
            assert home_status in AGREEING[status], f"{sid}: visit {status}, home {home_status}"
            if status in ("SETTLED", "CANCELLED"):
                assert home is not None and home.split is not None and visit.split is not None
                assert _split(visit.split) == _split(home.split), f"{sid}: splits differ"
                assert (visit.hifp_pay, visit.acct_pay) == (home.hifp_pay, home.acct_pay)
    for region in nodes:
        for sid, status in home_statuses(net, region).items():
            if status in ("COMMITTED", "CANCELLED"):
                assert sid in seen_at_visit, f"{sid} is {status} at home, unknown at the visit"


def _split(text: str) -> dict[str, Any]:
    return dict(json.loads(text))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the given HTTP status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body
