"""Lost messages and crashes between the visit node and the home node (DESIGN.md §4.5 Failure).

A ``FaultyTransport`` wraps the Shanghai node's outbound transport and loses a chosen message
or its answer. Whatever is lost, the hospital gets a clear status (never a 500), nothing is
charged twice or lost, and after recovery both sides agree on every settlement id.

The fault injector is put in place of the Shanghai node's ``exchange.transport`` after the
network is open, so only that node's outbound messages are affected; the last tests also build
a whole network on a faulty transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fault_helpers import Faults
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, assert_problem, assert_sides_agree

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
)
from tongban.adapters.transport import FaultyTransport, InProcessTransport, RoutingTransport
from tongban.bootstrap import EmbeddedNetwork, utc_now
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.api.schemas import BillLineIn, lines_to_domain
from tongban.service_layer.commands import SettleBill
from tongban.service_layer.records import HomeStatus, VisitStatus

SETTLEMENTS = f"/nodes/{SHANGHAI}/v1/settlements"
UNTOUCHED = {"deductible_used": 0, "fund_paid": 0, "admissions": 0, "account_balance": 2000}
# After the golden bill (GOLDEN_SPLIT_EMPLOYEE): 7,888 to the deductible, the 2,000 spent.
CHARGED = {"deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}


class ManualClock:
    """Real time, plus whatever the test has advanced it by (shared by all nodes)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def net(tmp_path: Path, db_url_for: Callable[[str], str] | None, clock: ManualClock
        ) -> Iterator[SmallNetwork]:
    network = build_small_network(tmp_path, db_url_for=db_url_for, clock=clock)
    yield network
    network.close()


@pytest.fixture
def faults(net: SmallNetwork) -> Faults:
    return Faults(net)


@pytest.fixture
def client(net: SmallNetwork, faults: Faults) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as test_client:
        yield test_client


def register(client: TestClient) -> str:
    response = client.post(f"/nodes/{SHANGHAI}/v1/visits", headers=auth(),
                           json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
    assert response.status_code == 201, response.text
    return str(response.json()["visit_id"])


def settle(client: TestClient, sid: str, visit_id: str) -> Any:
    return client.post(SETTLEMENTS, headers=auth(), json={
        "settlement_id": sid, "visit_id": visit_id, "lines": golden_lines()})


def status_of(client: TestClient, sid: str) -> str:
    response = client.get(f"{SETTLEMENTS}/{sid}", headers=auth())
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def home_record(net: SmallNetwork, sid: str) -> Any:
    with net.network.nodes[JINHUA].store.read() as tx:
        return tx.home_settlement(SHANGHAI, sid)


def money(split: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in split.items() if k != "ratio_applied"}


def test_a_lost_commit_answer_leaves_the_settlement_unknown_and_a_retry_settles_it_once(
    net: SmallNetwork, client: TestClient, faults: Faults
) -> None:
    visit_id = register(client)
    faults.lose_answer("commit")
    lost = settle(client, "s-lost-answer", visit_id)
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "UNKNOWN" and lost.json()["split"] is None
    assert home_record(net, "s-lost-answer").status is HomeStatus.COMMITTED  # home did commit
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert status_of(client, "s-lost-answer") == "UNKNOWN"

    retried = settle(client, "s-lost-answer", visit_id)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "SETTLED"
    assert money(retried.json()["split"]) == GOLDEN_SPLIT_EMPLOYEE
    assert retried.json()["split"] == json.loads(home_record(net, "s-lost-answer").split)
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED  # charged exactly once
    assert faults.transport.dropped_answers == 1
    assert_sides_agree(net)


def test_a_lost_commit_request_is_voided_by_recovery_and_the_id_is_spent(
    net: SmallNetwork, client: TestClient, faults: Faults
) -> None:
    visit_id = register(client)
    faults.lose_request("commit")
    lost = settle(client, "s-lost-request", visit_id)
    assert lost.status_code == 202 and lost.json()["status"] == "UNKNOWN"
    assert home_record(net, "s-lost-request") is None  # the home never saw it

    report = net.node(SHANGHAI).visit.recover(everything=True)
    assert report.voided == ["s-lost-request"]
    assert status_of(client, "s-lost-request") == "VOIDED"
    assert home_record(net, "s-lost-request").status is HomeStatus.ABORTED
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED

    assert_problem(settle(client, "s-lost-request", visit_id), 409, "SETTLEMENT_VOIDED")
    # The original commit turns up late: the home refuses it, signed.
    (late,) = faults.lost_requests
    answer = json.loads(net.network.nodes[JINHUA].handler()(late))
    assert answer["body"]["ok"] is False
    assert answer["body"]["error"]["code"] == "SETTLEMENT_VOIDED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert home_record(net, "s-lost-request").status is HomeStatus.ABORTED
    assert_sides_agree(net)

    # The hospital settles the same bill under a new id.
    fresh = settle(client, "s-lost-request-2", visit_id)
    assert fresh.status_code == 200 and fresh.json()["status"] == "SETTLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_a_retry_after_a_lost_commit_request_settles_it(
    net: SmallNetwork, client: TestClient, faults: Faults
) -> None:
    visit_id = register(client)
    faults.lose_request("commit")
    assert settle(client, "s-retry", visit_id).status_code == 202
    retried = settle(client, "s-retry", visit_id)
    assert retried.status_code == 200 and retried.json()["status"] == "SETTLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_recovery_after_a_lost_commit_answer_settles_with_the_home_split(
    net: SmallNetwork, client: TestClient, faults: Faults
) -> None:
    visit_id = register(client)
    faults.lose_answer("commit")
    assert settle(client, "s-recovered", visit_id).status_code == 202
    report = net.node(SHANGHAI).visit.recover(everything=True)
    assert report.settled == ["s-recovered"] and report.still_unknown == []
    status = client.get(f"{SETTLEMENTS}/s-recovered", headers=auth()).json()
    assert status["status"] == "SETTLED"
    assert status["split"] == json.loads(home_record(net, "s-recovered").split)
    assert money(status["split"]) == GOLDEN_SPLIT_EMPLOYEE
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    # A retry after recovery answers the same, charging nothing more.
    again = settle(client, "s-recovered", visit_id)
    assert again.status_code == 200 and again.json()["split"] == status["split"]
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_scheduled_recovery_waits_out_the_grace_period_and_an_unreachable_home(
    net: SmallNetwork, client: TestClient, faults: Faults, clock: ManualClock
) -> None:
    visit_id = register(client)
    faults.home_down()
    assert settle(client, "s-home-down", visit_id).status_code == 202
    visit = net.node(SHANGHAI).visit

    report = visit.recover()  # scheduled: a settlement this young may still be in flight
    assert (report.settled, report.voided, report.still_unknown) == ([], [], [])
    clock.advance(31)
    report = visit.recover()  # old enough, but the home still does not answer
    assert report.still_unknown == ["s-home-down"]
    assert status_of(client, "s-home-down") == "UNKNOWN"

    faults.heal()
    report = visit.recover()
    assert report.voided == ["s-home-down"]
    assert home_record(net, "s-home-down").status is HomeStatus.ABORTED
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)


@pytest.mark.parametrize("lost", ["request", "answer"])
def test_a_cancel_whose_message_is_lost_is_completed_and_restores_the_state_once(
    net: SmallNetwork, client: TestClient, faults: Faults, lost: str
) -> None:
    visit_id = register(client)
    assert settle(client, "s-cancel", visit_id).status_code == 200
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    if lost == "request":
        faults.lose_request("cancel")
    else:
        faults.lose_answer("cancel")
    pending = client.post(f"{SETTLEMENTS}/s-cancel/cancel", headers=auth())
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "CANCELLING"
    home = home_record(net, "s-cancel").status
    assert home is (HomeStatus.COMMITTED if lost == "request" else HomeStatus.CANCELLED)

    report = net.node(SHANGHAI).visit.recover(everything=True)
    assert report.cancelled == ["s-cancel"]
    assert status_of(client, "s-cancel") == "CANCELLED"
    assert home_record(net, "s-cancel").status is HomeStatus.CANCELLED
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    again = client.post(f"{SETTLEMENTS}/s-cancel/cancel", headers=auth())
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)


def test_a_hospital_repeating_a_cancel_whose_answer_was_lost_restores_the_state_once(
    net: SmallNetwork, client: TestClient, faults: Faults
) -> None:
    visit_id = register(client)
    assert settle(client, "s-cancel-again", visit_id).status_code == 200
    faults.lose_answer("cancel")
    assert client.post(f"{SETTLEMENTS}/s-cancel-again/cancel", headers=auth()).status_code == 202
    again = client.post(f"{SETTLEMENTS}/s-cancel-again/cancel", headers=auth())
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)


class VisitNodeDied(Exception):
    """Stands for the visit node's process dying mid-call (not a transport error)."""


def die(endpoint: str, payload: bytes) -> bool:
    if json.loads(payload)["kind"] == "commit":
        raise VisitNodeDied
    return False


@pytest.mark.parametrize(
    ("moment", "visit_status", "home_status", "state"),
    [
        pytest.param("before-the-commit-left", "VOIDED", "ABORTED", UNTOUCHED,
                     id="died-before-sending"),
        pytest.param("after-the-home-committed", "SETTLED", "COMMITTED", CHARGED,
                     id="died-after-the-home-committed"),
        pytest.param("answer-lost", "SETTLED", "COMMITTED", CHARGED,
                     id="answer-lost-then-restart"),
    ],
)
def test_a_restarted_network_finds_everything_as_it_was_and_recovery_makes_both_sides_agree(
    tmp_path: Path, moment: str, visit_status: str, home_status: str, state: dict[str, int]
) -> None:
    first = build_small_network(tmp_path)  # SQLite files in tmp_path, reopened below
    faults = Faults(first)
    with TestClient(create_network_app(first.network), raise_server_exceptions=False) as client:
        visit_id = register(client)
        if moment == "answer-lost":
            faults.lose_answer("commit")
            assert settle(client, "s-crash", visit_id).status_code == 202
        else:
            if moment == "before-the-commit-left":
                faults.transport.drop_request = die
            else:
                faults.transport.drop_answer = die
            lines = lines_to_domain([BillLineIn(**line) for line in golden_lines()])
            command = SettleBill("s-crash", visit_id, lines)
            with pytest.raises(VisitNodeDied):
                first.node(SHANGHAI).visit.settle(command, RUIJIN)
    first.close()

    reopened = EmbeddedNetwork(tmp_path).open([SHANGHAI, JINHUA, NANJING])
    again = SmallNetwork(reopened, utc_now)
    try:
        with reopened.nodes[SHANGHAI].store.read() as tx:
            left = tx.visit_settlement("s-crash")
        assert left is not None
        assert left.status in (VisitStatus.PENDING, VisitStatus.UNKNOWN)
        reports = reopened.recover_all()
        assert reports[SHANGHAI].still_unknown == []
        with TestClient(create_network_app(reopened)) as client:
            assert status_of(client, "s-crash") == visit_status  # the HIS key still works
        assert home_record(again, "s-crash").status.value == home_status
        assert again.person_state(JINHUA, EMPLOYEE_ID) == state
        assert_sides_agree(again)
    finally:
        reopened.close()


def test_an_embedded_network_can_be_built_on_a_faulty_transport(tmp_path: Path) -> None:
    inproc = InProcessTransport()
    faulty = FaultyTransport(RoutingTransport(inproc))
    net = build_small_network(tmp_path, transport=faulty)
    try:
        with TestClient(create_network_app(net.network)) as client:
            faulty.drop_answer = lambda endpoint, payload: json.loads(payload)["kind"] == "commit"
            lost = settle(client, "s-faulty", register(client))
            assert lost.status_code == 202 and faulty.dropped_answers == 1
    finally:
        net.close()


def test_a_commit_the_home_rejects_for_clock_skew_stays_unknown_and_settles_once_clocks_agree(
    net: SmallNetwork, client: TestClient
) -> None:
    visit_id = register(client)
    exchange = net.network.nodes[SHANGHAI].exchange
    real_clock = exchange._clock  # the visit node's machine clock runs 10 minutes fast
    exchange._clock = lambda: real_clock() + 600
    skewed = settle(client, "s-skew", visit_id)
    assert skewed.status_code in (202, 503), skewed.text  # not the hospital's fault: no 401
    assert status_of(client, "s-skew") == "UNKNOWN"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    exchange._clock = real_clock
    retried = settle(client, "s-skew", visit_id)
    assert retried.status_code == 200 and retried.json()["status"] == "SETTLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)
