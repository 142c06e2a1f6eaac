"""The world the console's backend tests read: one small network (tests/network_fixtures.py)
with a Nanjing hospital added, which settles a few bills over two days through the hospitals'
HTTP API and keeps what each hospital was answered. Expected figures are worked out from those
answers, never from an operator answer.

Settled, in this order (S = Shanghai's node, N = Nanjing's):
  yesterday  S y-employee   瑞金     Jinhua employee, golden bill      SETTLED
             S y-unfiled    瑞金     Jinhua resident, no filing        REFUSED FILING_REQUIRED
  today      S t-big        社区     Nanjing employee, 3,000 yuan      SETTLED (the fund pays)
             S t-cancelled  瑞金     Nanjing employee, golden bill     CANCELLED by the hospital
             S t-employee   瑞金     Jinhua employee, 3,000 yuan       SETTLED
             S t-filed      瑞金     Jinhua resident, filed since      SETTLED
             N n-employee   省人民   Jinhua employee, golden bill      SETTLED
"""

from __future__ import annotations

import time as monotonic
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    NANJING_ID,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
    resident_auth,
)
from tongban.domain.calendar import local_date
from tongban.entrypoints.api.embedded import create_network_app
from tongban.service_layer.operators import new_operator_key
from tongban.service_layer.records import InstitutionRecord

NODE = f"/nodes/{SHANGHAI}/v1"
NANJING_HOSPITAL = "H32010000001"
HOSPITAL_KEYS = {RUIJIN: "key-ruijin", COMMUNITY: "key-community", NANJING_HOSPITAL: "key-nj"}
PEOPLE = {EMPLOYEE_ID: "王秀英", RESIDENT_ID: "李建国", NANJING_ID: "陈静"}
BIG_BILL = [{"code": "001102000010000", "quantity": "1", "unit_price": 300000}]
MONEY = ("medfee", "fund", "account", "cash")


class DayClock:
    """Noon in Shanghai on a chosen day, running on in real time: every settlement of a day
    lands on that day whatever the hour the tests run, and later ones are newer."""

    def __init__(self, today: date) -> None:
        self.noon = datetime.combine(today, time(4, 0), UTC)  # 12:00 in Asia/Shanghai
        self.started = monotonic.monotonic()
        self.days = 0

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=monotonic.monotonic() - self.started)
        return self.noon + timedelta(days=self.days) + elapsed


@dataclass
class Outcome:
    """One settle request as the hospital saw it."""

    settlement_id: str
    visit_region: str
    id_number: str
    institution: str
    day: date
    status: str
    error_code: str | None = None
    split: dict[str, Any] | None = None
    lines: list[dict[str, Any]] | None = None

    def money(self) -> dict[str, int]:
        s = self.split or {}
        return {
            "medfee": s.get("medfee_sumamt", 0),
            "fund": s.get("hifp_pay", 0),
            "account": s.get("acct_pay", 0),
            "cash": s.get("psn_cash_pay", 0),
        }

    @property
    def home_region(self) -> str:
        return JINHUA if self.id_number in (EMPLOYEE_ID, RESIDENT_ID) else NANJING


@dataclass
class World:
    net: SmallNetwork
    client: TestClient
    region_key: str  # accepted by Shanghai's node only
    hub_key: str  # accepted by the hub only
    yesterday: date
    today: date
    outcomes: list[Outcome] = field(default_factory=list)  # in the order they were settled

    def at(self, region: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.visit_region == region]

    def get(self, path: str, key: str | None = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(path, params=params, headers=headers)


def settle(
    w: World,
    sid: str,
    institution: str,
    id_number: str,
    lines: list[dict[str, Any]],
    region: str = SHANGHAI,
) -> Outcome:
    base, headers = f"/nodes/{region}/v1", {"Authorization": f"Bearer {HOSPITAL_KEYS[institution]}"}
    visit = w.client.post(
        f"{base}/visits",
        headers=headers,
        json={"institution_code": institution, "id_number": id_number},
    )
    assert visit.status_code == 201, visit.text
    answer = w.client.post(
        f"{base}/settlements",
        headers=headers,
        json={"settlement_id": sid, "visit_id": visit.json()["visit_id"], "lines": lines},
    )
    day = local_date(w.net.clock())
    if answer.status_code == 200:
        body = answer.json()
        assert body["status"] == "SETTLED" and body["settled_on"] == day.isoformat(), body
        outcome = Outcome(
            sid,
            region,
            id_number,
            institution,
            day,
            "SETTLED",
            split=body["split"],
            lines=body["lines"],
        )
    else:
        assert answer.status_code == 422, answer.text
        outcome = Outcome(
            sid, region, id_number, institution, day, "REFUSED", error_code=answer.json()["code"]
        )
    w.outcomes.append(outcome)
    return outcome


def build_world(data_dir: Path, db_url_for: Callable[[str], str] | None) -> World:
    today = local_date(datetime.now(UTC))
    clock = DayClock(today)
    clock.days = -1
    net = build_small_network(data_dir, db_url_for=db_url_for, clock=clock)
    net.node(NANJING).load_reference(
        institutions=[(InstitutionRecord(NANJING_HOSPITAL, "江苏省人民医院", 3, True), "key-nj")]
    )
    region_key, hub_key = new_operator_key(), new_operator_key()
    net.network.nodes[SHANGHAI].operators.add(region_key)
    net.network.hub.operators.add(hub_key)
    client = TestClient(create_network_app(net.network), raise_server_exceptions=False)
    w = World(net, client, region_key, hub_key, today - timedelta(days=1), today)

    settle(w, "y-employee", RUIJIN, EMPLOYEE_ID, golden_lines())
    assert settle(w, "y-unfiled", RUIJIN, RESIDENT_ID, golden_lines()).status == "REFUSED"
    clock.days = 0
    settle(w, "t-big", COMMUNITY, NANJING_ID, BIG_BILL)
    cancelled = settle(w, "t-cancelled", RUIJIN, NANJING_ID, golden_lines())
    answer = client.post(f"{NODE}/settlements/t-cancelled/cancel", headers=auth())
    assert answer.status_code == 200 and answer.json()["status"] == "CANCELLED", answer.text
    cancelled.status = "CANCELLED"
    settle(w, "t-employee", RUIJIN, EMPLOYEE_ID, BIG_BILL)
    filing = client.post(
        f"/nodes/{JINHUA}/v1/filings",
        headers=resident_auth(net, client.post, RESIDENT_ID),
        json={"kind": "other", "target_region": SHANGHAI, "commitment": True},
    )
    assert filing.status_code == 201, filing.text
    assert settle(w, "t-filed", RUIJIN, RESIDENT_ID, golden_lines()).status == "SETTLED"
    settle(w, "n-employee", NANJING_HOSPITAL, EMPLOYEE_ID, golden_lines(), region=NANJING)
    assert any(o.split and o.split["hifp_pay"] > 0 for o in w.outcomes)  # the fund paid some
    return w


def close_world(w: World) -> None:
    w.client.close()
    w.net.close()


def masked(id_number: str) -> str:
    """All an operator may see of an ID number: its first six and last four characters."""
    return id_number[:6] + "*" * 8 + id_number[-4:]
