"""The directory's expiry and its grace period (tongban.adapters.directory_cache).

A node renews its directory from the hub past half its life; with the hub away it goes on
past the expiry for the grace period (settlement must not stop over a long weekend), then
refuses every other node, both ways, until the hub hands it a fresh one. Time is a clock the
test moves; all nodes and the hub read the same one, as synchronised servers would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    build_small_network,
    golden_lines,
)
from tongban.adapters.exchange import seal, unseal
from tongban.bootstrap import DataLayout
from tongban.domain.case import parse_line
from tongban.domain.directory import DIRECTORY_GRACE, DIRECTORY_TTL
from tongban.entrypoints.api.embedded import create_network_app
from tongban.errors import TongbanError
from tongban.service_layer.commands import PreviewBill, RegisterVisit, SettleBill
from tongban.service_layer.ports import Message
from tongban.service_layer.records import VisitStatus

# The golden bill charged once to the Jinhua employee (tests/integration/protocol_checks.py).
CHARGED_ONCE = {"deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def net(tmp_path: Path, clock: MovableClock) -> Iterator[SmallNetwork]:
    network = build_small_network(tmp_path, clock=clock)
    yield network
    network.close()


def hub_down(net: SmallNetwork) -> None:
    net.network.inproc.unregister("inproc://hub")


def hub_up(net: SmallNetwork) -> None:
    net.network.inproc.register("inproc://hub", net.network.hub.handler())


def register(net: SmallNetwork) -> str:
    command = RegisterVisit(RUIJIN, EMPLOYEE_ID, "outpatient", False)
    return net.node(SHANGHAI).visit.register(command, RUIJIN).visit_id


def settle(net: SmallNetwork, visit_id: str, settlement_id: str) -> VisitStatus:
    lines = tuple(parse_line(line, i) for i, line in enumerate(golden_lines()))
    command = SettleBill(settlement_id, visit_id, lines, True)
    return net.node(SHANGHAI).visit.settle(command, RUIJIN).status


def version_at(net: SmallNetwork, region: str) -> int:
    directory = net.network.nodes[region].directory.current
    assert directory is not None
    return directory.version


def test_a_node_past_half_its_directorys_life_gets_a_newer_one_from_the_hub(
    net: SmallNetwork, clock: MovableClock
) -> None:
    before = version_at(net, SHANGHAI)
    visit_id = register(net)
    clock.now += DIRECTORY_TTL / 2 + timedelta(hours=1)
    assert settle(net, visit_id, "renew-1") is VisitStatus.SETTLED
    assert version_at(net, SHANGHAI) > before
    renewed = net.network.nodes[SHANGHAI].directory.current
    assert renewed is not None and renewed.expires_at > clock.now + DIRECTORY_TTL / 2


def test_with_the_hub_away_a_node_settles_on_an_expired_directory_within_the_grace(
    net: SmallNetwork, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    visit_id = register(net)
    hub_down(net)
    clock.now += DIRECTORY_TTL + DIRECTORY_GRACE - timedelta(hours=1)
    with caplog.at_level(logging.WARNING, logger="tongban.directory"):
        assert settle(net, visit_id, "grace-1") is VisitStatus.SETTLED
    with TestClient(create_network_app(net.network)) as client:
        assert client.get(f"/nodes/{SHANGHAI}/v1/health").json()["directory"] == "grace"
    assert any("grace" in r.getMessage() for r in caplog.records)
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED_ONCE


def test_past_the_grace_a_node_refuses_other_nodes_both_ways_and_charges_nothing(
    net: SmallNetwork, clock: MovableClock
) -> None:
    visit_id = register(net)
    before = net.person_state(JINHUA, EMPLOYEE_ID)
    hub_down(net)
    clock.now += DIRECTORY_TTL + DIRECTORY_GRACE + timedelta(minutes=1)
    # Shanghai will not send: the bill is refused before the home region is asked at all.
    lines = tuple(parse_line(line, i) for i, line in enumerate(golden_lines()))
    with pytest.raises(TongbanError) as refused:
        net.node(SHANGHAI).visit.preview(PreviewBill(visit_id, lines, True), RUIJIN)
    assert (refused.value.code, refused.value.status) == ("DIRECTORY_EXPIRED", 503)
    # And Jinhua will not accept: a message sent to it anyway gets a signed refusal.
    message = Message(sender=SHANGHAI, recipient=JINHUA, msgid="after-grace-1",
                      timestamp=int(clock.now.timestamp() * 1000), kind="status",
                      body={"settlement_id": "grace-x"})
    key = DataLayout(net.network.data_dir).key(SHANGHAI)
    reply, _ = unseal(net.network.inproc.send(f"inproc://{JINHUA}", seal(key, message)))
    assert reply.body["ok"] is False
    assert reply.body["error"]["code"] == "DIRECTORY_EXPIRED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == before
    # Its operators see it on the health answer.
    with TestClient(create_network_app(net.network)) as client:
        health = client.get(f"/nodes/{SHANGHAI}/v1/health").json()
    assert health["directory"] == "expired"


def test_once_the_hub_is_back_the_node_renews_and_settles_again(
    net: SmallNetwork, clock: MovableClock
) -> None:
    visit_id = register(net)
    hub_down(net)
    clock.now += DIRECTORY_TTL + DIRECTORY_GRACE + timedelta(hours=2)
    # Nothing is sent, but the settle was already written: it waits, as for any silent home.
    assert settle(net, visit_id, "back-1") is VisitStatus.UNKNOWN
    hub_up(net)
    clock.now += timedelta(minutes=2)  # the next renewal attempt is due
    assert settle(net, visit_id, "back-1") is VisitStatus.SETTLED  # the HIS retries the id
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED_ONCE
    renewed = net.network.nodes[SHANGHAI].directory.current
    assert renewed is not None and renewed.is_usable(clock.now)
    assert not renewed.is_expired(clock.now)
