"""Clearing when messages are lost: nothing is half cleared, and running it again finishes it.

The hub's outbound transport is wrapped in a ``FaultyTransport`` that loses chosen messages:
a node's period report, a statement on its way, the notice that the period is closed. After
each fault the state is one an operator can see and finish with the same command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    NANJING_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    golden_lines,
)
from tongban.adapters.storage.clearing_store import ClearingStore
from tongban.adapters.transport import FaultyTransport
from tongban.domain.calendar import SHANGHAI as SHANGHAI_TIME
from tongban.domain.clearing import Period
from tongban.domain.ledger import CLEARING
from tongban.entrypoints.api.embedded import create_network_app
from tongban.errors import Conflict, Unavailable

PERIOD = str(Period.of(datetime.now(SHANGHAI_TIME)))


def settle_two_bills(net: SmallNetwork) -> dict[str, int]:
    """One bill each for a Jinhua and a Nanjing employee at Ruijin; returns fund+account."""
    owed = {}
    with TestClient(create_network_app(net.network)) as client:
        for n, (id_number, home) in enumerate(((EMPLOYEE_ID, JINHUA), (NANJING_ID, NANJING))):
            visit = client.post(f"/nodes/{SHANGHAI}/v1/visits", headers=auth(),
                                json={"institution_code": RUIJIN, "id_number": id_number})
            assert visit.status_code == 201, visit.text
            done = client.post(f"/nodes/{SHANGHAI}/v1/settlements", headers=auth(), json={
                "settlement_id": f"fault-{n}", "visit_id": visit.json()["visit_id"],
                "lines": golden_lines()})
            assert done.status_code == 200, done.text
            split = done.json()["split"]
            owed[home] = split["hifp_pay"] + split["acct_pay"]
    return owed


def faulty_hub(net: SmallNetwork) -> FaultyTransport:
    exchange = net.network.hub.exchange
    faulty = FaultyTransport(exchange.transport)
    exchange.transport = faulty
    return faulty


def losing(kind: str, to: str | None = None) -> Callable[[str, bytes], bool]:
    def matches(endpoint: str, payload: bytes) -> bool:
        return json.loads(payload)["kind"] == kind and (to is None or endpoint.endswith(to))

    return matches


def store(net: SmallNetwork) -> ClearingStore:
    return ClearingStore(net.network.hub.store.db)


def test_a_missing_period_report_clears_nothing_and_a_second_run_closes_the_period(
    net: SmallNetwork,
) -> None:
    owed = settle_two_bills(net)
    faulty = faulty_hub(net)
    faulty.drop_request = losing("report", to=NANJING)
    with pytest.raises(Unavailable) as refused:
        net.network.hub.clearing.clear(PERIOD)
    assert refused.value.code == "REPORTS_MISSING" and NANJING in refused.value.detail
    assert store(net).period(PERIOD) is None and store(net).statements(PERIOD) == []
    faulty.drop_request = None
    summary = net.network.hub.clearing.clear(PERIOD)
    assert summary.status == "CLOSED"
    assert summary.positions == {SHANGHAI: sum(owed.values()), JINHUA: -owed[JINHUA],
                                 NANJING: -owed[NANJING]}


def test_a_statement_lost_on_the_way_leaves_the_period_open_until_cleared_again(
    net: SmallNetwork,
) -> None:
    owed = settle_two_bills(net)
    faulty = faulty_hub(net)
    faulty.drop_answer = losing("statement", to=JINHUA)
    first = net.network.hub.clearing.clear(PERIOD)
    # Jinhua checked and answered, but the answer never arrived: the hub cannot close.
    assert first.status == "CLEARED" and first.statements[JINHUA] == "ISSUED"
    reserves_before, _ = net.network.hub.clearing.reserves()
    assert all(v == 0 for v in reserves_before.values())  # no money moved
    faulty.drop_answer = None
    second = net.network.hub.clearing.clear(PERIOD)
    assert second.status == "CLOSED"
    assert set(second.statements.values()) == {"CONFIRMED"}
    reserves, _ = net.network.hub.clearing.reserves()
    assert reserves[JINHUA] == -owed[JINHUA] and reserves[SHANGHAI] == sum(owed.values())


def test_a_lost_closing_notice_is_sent_again_and_booked_once(net: SmallNetwork) -> None:
    settle_two_bills(net)
    faulty = faulty_hub(net)
    faulty.drop_request = losing("period.closed", to=JINHUA)
    assert net.network.hub.clearing.clear(PERIOD).status == "CLOSED"

    def booked(region: str) -> int:
        with net.network.nodes[region].store.read() as tx:
            return len(tx.ledger.history(ref=f"clearing:{PERIOD}"))

    assert booked(JINHUA) == 0 and booked(SHANGHAI) > 0
    faulty.drop_request = None
    for _ in range(2):  # asking to clear a closed period re-sends the notice, every time
        with pytest.raises(Conflict) as closed:
            net.network.hub.clearing.clear(PERIOD)
        assert closed.value.code == "PERIOD_CLOSED"
    assert booked(JINHUA) > 0
    with net.network.nodes[JINHUA].store.read() as tx:
        assert tx.ledger.balance(CLEARING).debit_balance == 0
        first = tx.ledger.history(ref=f"clearing:{PERIOD}")
    with pytest.raises(Conflict):
        net.network.hub.clearing.clear(PERIOD)
    with net.network.nodes[JINHUA].store.read() as tx:
        assert tx.ledger.history(ref=f"clearing:{PERIOD}") == first
