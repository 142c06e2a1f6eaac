"""The network as separate processes over real HTTP: `tongban network init`, `hub`, `node`.

A hub and two nodes (Shanghai as the visit region, Jinhua as home) run as subprocesses of
the installed console script on free local ports, seeded with the demo's sample data. A
hospital settles and cancels over HTTP; then the home node's process is killed (SIGKILL), a
settlement in that moment is UNKNOWN (202, never a 500), and once the home node is back the
same settlement id settles, once, and both sides tell the same story. When the visit node
dies too, its start-up recovery settles the matter with the home node on its own.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from process_network import JINHUA, SHANGHAI, TONGBAN, Processes, home_status, running_network

from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.domain.calendar import SHANGHAI as SHANGHAI_TIME
from tongban.domain.clearing import Period

BILL = [
    {"code": "001102000010000", "quantity": "2", "unit_price": 2500},  # consultations, class A
    {"code": "UNKNOWN-LOCAL-ITEM", "quantity": "1", "unit_price": 1200},  # not in the catalogue
]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Processes]:
    with running_network(tmp_path / "network", (JINHUA, SHANGHAI)) as processes:
        yield processes


def test_settlement_over_http_survives_the_home_node_being_killed_and_restarted(
    network: Processes,
) -> None:
    keys = json.loads((network.data_dir / "demo-credentials.json").read_text())
    hospital = next(i for i in sample_institutions(SHANGHAI) if i.enabled and i.code in keys)
    employee = next(p for p in sample_people(JINHUA, 2400, 2026) if p.insutype == "310")
    his = httpx.Client(base_url=f"{network.urls[SHANGHAI]}/v1", timeout=30,
                       headers={"Authorization": f"Bearer {keys[hospital.code]}"})

    def register() -> str:
        visit = his.post("/visits", json={"institution_code": hospital.code,
                                          "id_number": employee.id_number})
        assert visit.status_code == 201, visit.text
        assert visit.json()["home_region"] == JINHUA
        return str(visit.json()["visit_id"])

    # register → preview → settle → status → cancel, all over HTTP between processes.
    visit_id = register()
    preview = his.post(f"/visits/{visit_id}/preview", json={"lines": BILL})
    assert preview.status_code == 200, preview.text
    split = preview.json()["split"]
    assert split["medfee_sumamt"] == 2 * 2500 + 1200
    assert split["fulamt_ownpay_amt"] == 1200  # an item not in Shanghai's catalogue
    assert split["hifp_pay"] + split["acct_pay"] + split["psn_cash_pay"] == 6200
    settled = his.post("/settlements", json={"settlement_id": "e2e-1", "visit_id": visit_id,
                                             "lines": BILL})
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "SETTLED" and settled.json()["split"] == split
    assert his.get("/settlements/e2e-1").json()["status"] == "SETTLED"
    assert home_status(network, "e2e-1")["status"] == "COMMITTED"
    cancelled = his.post("/settlements/e2e-1/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert home_status(network, "e2e-1")["status"] == "CANCELLED"
    # The cancel restored the home state: the same bill previews exactly as before.
    assert his.post(f"/visits/{visit_id}/preview", json={"lines": BILL}).json()["split"] == split

    # The home node dies; a settlement in that moment is UNKNOWN, not an error.
    visit_id = register()
    network.kill(JINHUA)
    lost = his.post("/settlements", json={"settlement_id": "e2e-2", "visit_id": visit_id,
                                          "lines": BILL})
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "UNKNOWN"
    assert his.get("/settlements/e2e-2").json()["status"] == "UNKNOWN"

    # Back again: the hospital retries the same id and it settles, once.
    network.start(JINHUA)
    retried = his.post("/settlements", json={"settlement_id": "e2e-2", "visit_id": visit_id,
                                             "lines": BILL})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "SETTLED"
    assert retried.json()["split"] == split
    home = home_status(network, "e2e-2")
    assert home["status"] == "COMMITTED" and home["split"] == retried.json()["split"]
    again = his.post("/settlements", json={"settlement_id": "e2e-2", "visit_id": visit_id,
                                           "lines": BILL})
    assert again.status_code == 200 and again.json()["split"] == split
    assert his.get("/settlements/e2e-2").json()["status"] == "SETTLED"

    # Both die: the home first, with a settlement in flight, then the visit node. At start-up
    # the visit node asks the home about every unresolved id; the home never saw this one,
    # so it is voided on both sides for good.
    visit_id = register()
    network.kill(JINHUA)
    lost = his.post("/settlements", json={"settlement_id": "e2e-3", "visit_id": visit_id,
                                          "lines": BILL})
    assert lost.status_code == 202 and lost.json()["status"] == "UNKNOWN"
    network.kill(SHANGHAI)
    network.start(JINHUA)
    network.start(SHANGHAI)
    deadline = time.monotonic() + 10
    while (status := his.get("/settlements/e2e-3").json()["status"]) == "UNKNOWN":
        assert time.monotonic() < deadline, "start-up recovery did not resolve e2e-3"
        time.sleep(0.1)
    assert status == "VOIDED"
    assert home_status(network, "e2e-3")["status"] == "ABORTED"
    voided = his.post("/settlements", json={"settlement_id": "e2e-3", "visit_id": visit_id,
                                            "lines": BILL})
    assert voided.status_code == 409 and voided.json()["code"] == "SETTLEMENT_VOIDED"
    assert home_status(network, "e2e-2")["status"] == "COMMITTED"  # as it was before
    his.close()

    # The month is cleared by the hub calling the running nodes over HTTP: e2e-1 was settled
    # and cancelled (nets to nothing), e2e-2 stands, e2e-3 never happened.
    period = str(Period.of(datetime.now(SHANGHAI_TIME)))
    data = str(network.data_dir)
    cleared = subprocess.run([str(TONGBAN), "clear", "--data-dir", data, "--period", period],
                             capture_output=True, text=True, timeout=120)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert "period CLOSED" in cleared.stdout
    shown = subprocess.run([str(TONGBAN), "clearing", "statement", "--data-dir", data,
                            "--period", period, "--region", JINHUA],
                           capture_output=True, text=True, timeout=60)
    statement = json.loads(shown.stdout)["statement"]
    owed = split["hifp_pay"] + split["acct_pay"]
    assert statement["as_home"] == [{"visit_region": SHANGHAI, "events": 1,
                                     "medfee_sumamt": 6200, "hifp_pay": split["hifp_pay"],
                                     "acct_pay": split["acct_pay"], "amount": owed}]
    assert statement["net"] == -owed
    checked = subprocess.run([str(TONGBAN), "ledger", "check", "--data-dir", data],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout
