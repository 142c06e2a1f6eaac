"""The hub's clearing API for operators (docs/console-api.md, "The hub"), through HTTP.

Bills are settled through the Shanghai node's hospital API on the small network, the hub
clears March 2026, and the operator reads the result over ``/v1/clearing`` (the router on its
own app, with an operator key in the hub's meta). Expected money comes from the splits the
hospital API returned: home H owes visit V Σ (hifp_pay + acct_pay) of matched events, settle
+ and cancel −; a region's position is what it is owed less what it owes. Every test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    NANJING_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
)
from tongban.adapters.signing import verify
from tongban.canonical import canonical_json
from tongban.domain.calendar import SHANGHAI as SHANGHAI_TZ
from tongban.entrypoints.api.clearing_api import clearing_router
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.api.problems import install_problem_handlers
from tongban.service_layer import wire
from tongban.service_layer.operators import OperatorKeys, new_operator_key, node_operator_keys

API = "/v1/clearing"
REGIONS = (SHANGHAI, JINHUA, NANJING)
RESERVE = 10_000_000  # opening reserve of Shanghai and Jinhua at the hub; Nanjing put in none
BIG_BILL = [{"code": "001102000010000", "quantity": "70", "unit_price": 2500}]
MARCH = "2026-03"


def shanghai(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, tzinfo=SHANGHAI_TZ)


class TickingClock:
    """A settable UTC clock shared by the hub and every node; each reading is 1 ms later."""

    def __init__(self, start: datetime) -> None:
        self.now, self._lock = start.astimezone(UTC), threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(milliseconds=1)
            return self.now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self.now = moment.astimezone(UTC)


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(shanghai(2026, 3, 10))


@pytest.fixture
def net(
    tmp_path: Path, db_url_for: Callable[[str], str] | None, clock: TickingClock
) -> Iterator[SmallNetwork]:
    network = build_small_network(tmp_path, db_url_for=db_url_for, clock=clock)
    for region in (SHANGHAI, JINHUA):
        network.network.hub.clearing.deposit(region, RESERVE, f"opening:{region}")
    yield network
    network.close()


@pytest.fixture
def operator_key(net: SmallNetwork) -> str:
    key = new_operator_key()
    hub = net.network.hub
    OperatorKeys(hub.store.meta, hub.store.set_meta).add(key)
    return key


@pytest.fixture
def api(net: SmallNetwork, operator_key: str) -> Iterator[TestClient]:
    """The router on an app of its own, with the operator's key sent on every request."""
    hub = net.network.hub
    app = FastAPI()
    install_problem_handlers(app)
    operators = OperatorKeys(hub.store.meta, hub.store.set_meta)
    app.include_router(clearing_router(hub.clearing, operators))
    with TestClient(app, headers={"Authorization": f"Bearer {operator_key}"}) as client:
        yield client


class Hospital:
    """Ruijin's and the community centre's HIS: settles and cancels, keeping the splits."""

    def __init__(self, net: SmallNetwork) -> None:
        self.client = TestClient(create_network_app(net.network))
        self.splits: dict[str, dict[str, Any]] = {}
        self.home_of: dict[str, str] = {}
        self.events: list[tuple[str, int]] = []  # (settlement id, +1 settle / -1 cancel)

    def settle(self, sid: str, id_number: str, home: str, lines: list[dict[str, Any]],
               institution: str = RUIJIN) -> None:
        base = f"/nodes/{SHANGHAI}/v1"
        visit = self.client.post(f"{base}/visits", headers=auth(institution),
                                 json={"institution_code": institution, "id_number": id_number})
        assert visit.status_code == 201, visit.text
        done = self.client.post(f"{base}/settlements", headers=auth(institution), json={
            "settlement_id": sid, "visit_id": visit.json()["visit_id"], "lines": lines})
        assert done.status_code == 200 and done.json()["status"] == "SETTLED", done.text
        self.splits[sid], self.home_of[sid] = done.json()["split"], home
        self.events.append((sid, 1))

    def cancel(self, sid: str, institution: str = RUIJIN) -> None:
        done = self.client.post(f"/nodes/{SHANGHAI}/v1/settlements/{sid}/cancel",
                                headers=auth(institution))
        assert done.status_code == 200 and done.json()["status"] == "CANCELLED", done.text
        self.events.append((sid, -1))

    def obligations(self, leave_out: tuple[str, ...] = ()) -> dict[tuple[str, str], list[int]]:
        """(home, visit) -> [events, medfee, fund, account, amount] of the matched events."""
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for sid, sign in self.events:
            if sid in leave_out:
                continue
            split, row = self.splits[sid], sums[(self.home_of[sid], SHANGHAI)]
            fund, account = split["hifp_pay"], split["acct_pay"]
            for i, value in enumerate((1, split["medfee_sumamt"], fund, account, fund + account)):
                row[i] += sign * value
        return dict(sums)


def positions_of(obligations: dict[tuple[str, str], list[int]]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for (home, visit), row in obligations.items():
        net[visit] += row[4]
        net[home] -= row[4]
    return dict(net)


def matrix(answer: dict[str, Any]) -> dict[tuple[str, str], list[int]]:
    keys = ("events", "medfee_sumamt", "hifp_pay", "acct_pay", "amount")
    return {(o["home_region"], o["visit_region"]): [o[k] for k in keys]
            for o in answer["obligations"]}


def settle_march(net: SmallNetwork) -> Hospital:
    his = Hospital(net)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.settle("e-2", EMPLOYEE_ID, JINHUA, golden_lines(), institution=COMMUNITY)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    his.settle("n-2", NANJING_ID, NANJING, golden_lines())
    his.cancel("n-2")
    return his


def clear_march(net: SmallNetwork, clock: TickingClock) -> None:
    clock.set(shanghai(2026, 4, 2))
    assert net.network.hub.clearing.clear(MARCH).status == "CLOSED"


def lose_home_record(net: SmallNetwork, region: str, sid: str) -> None:
    """A planted mismatch: the home node's settlement row goes (its ledger stays)."""
    with net.network.nodes[region].store.db.write() as conn:
        gone = conn.execute(
            text("DELETE FROM home_settlements WHERE settlement_id = :sid"), {"sid": sid}
        )
        assert gone.rowcount == 1


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code, response.text


# --------------------------------------------------------------------------- periods
def test_a_closed_period_shows_the_settled_obligations_and_positions_that_net_to_zero(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    his = settle_march(net)
    clear_march(net, clock)

    listed = api.get(f"{API}/periods")
    assert listed.status_code == 200, listed.text
    (march,) = listed.json()
    assert (march["period"], march["status"], march["matched"]) == (MARCH, "CLOSED", 5)
    for moment in ("cleared_at", "closed_at"):
        assert datetime.fromisoformat(march[moment]) >= shanghai(2026, 4, 2)

    answer = api.get(f"{API}/periods/{MARCH}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = his.obligations()
    assert matrix(body) == expected  # n-2's settle and cancel both count: they net out
    assert body["positions"] == positions_of(expected)
    assert sum(body["positions"].values()) == 0
    assert body["positions"][SHANGHAI] > 0 > body["positions"][JINHUA]
    assert (body["period"], body["status"], body["matched"]) == (MARCH, "CLOSED", 5)
    assert datetime.fromisoformat(body["window_to"]) == shanghai(2026, 4, 1).replace(hour=0)
    assert body["window_from"] is None  # the first period takes every earlier event
    assert body["statements"] == dict.fromkeys(REGIONS, "CONFIRMED")
    assert body["disputes"] == {} and body["exceptions_found"] == []
    assert body["exceptions_open"] == 0
    opening = {SHANGHAI: RESERVE, JINHUA: RESERVE, NANJING: 0}
    assert body["reserves"] == {r: opening[r] + body["positions"][r] for r in REGIONS}


def test_a_reserve_overdrawn_by_the_clearing_is_a_critical_alert(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    his = settle_march(net)
    clear_march(net, clock)
    owed = -positions_of(his.obligations())[NANJING]

    alerts = api.get(f"{API}/periods/{MARCH}").json()["alerts"]
    # Nanjing put nothing in and paid its share: overdrawn by exactly that.
    assert alerts == [{
        "region": NANJING, "level": "CRITICAL", "months_left": "-1.00", "balance": -owed,
        "monthly_average": owed, "threshold_months": "2", "message": alerts[0]["message"],
    }]


# --------------------------------------------------------------------------- statements
def test_statements_download_as_json_csv_and_html_named_for_their_period_and_region(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    his = settle_march(net)
    clear_march(net, clock)
    net_of = positions_of(his.obligations())

    for region in REGIONS:
        signed = api.get(f"{API}/statements/{MARCH}/{region}")  # json unless asked
        assert signed.status_code == 200, signed.text
        assert signed.headers["content-type"] == "application/json"
        assert signed.headers["content-disposition"] == (
            f'attachment; filename="statement-{MARCH}-{region}.json"'
        )
        document = signed.json()
        statement = document["statement"]
        assert set(document) == {"statement", "digest", "signature", "status"}
        assert (statement["period"], statement["region"]) == (MARCH, region)
        assert statement["net"] == net_of[region] and document["status"] == "CONFIRMED"
        # Verified as a node verifies the statement it is sent: digest and hub signature.
        assert wire.content_hash(statement) == document["digest"]
        assert verify(net.network.hub.public_key, canonical_json(statement),
                      document["signature"])
        tampered = {**statement, "net": statement["net"] + 1}
        assert not verify(net.network.hub.public_key, canonical_json(tampered),
                          document["signature"])

    sheet = api.get(f"{API}/statements/{MARCH}/{SHANGHAI}", params={"format": "csv"})
    assert sheet.status_code == 200, sheet.text
    assert sheet.headers["content-type"] == "text/csv; charset=utf-8"
    assert sheet.headers["content-disposition"] == (
        f'attachment; filename="statement-{MARCH}-{SHANGHAI}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    receivable = {r["counterpart"]: int(r["amount"]) for r in rows if r["section"].startswith(
        "receivable")}
    assert receivable == {home: row[4] for (home, _), row in his.obligations().items()}
    assert [int(r["amount"]) for r in rows if r["section"] == "net"] == [net_of[SHANGHAI]]

    page = api.get(f"{API}/statements/{MARCH}/{JINHUA}", params={"format": "html"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-disposition"] == (
        f'attachment; filename="statement-{MARCH}-{JINHUA}.html"'
    )
    digest = api.get(f"{API}/statements/{MARCH}/{JINHUA}").json()["digest"]
    assert digest in page.text and "<table" in page.text


# --------------------------------------------------------------------------- exceptions
def test_a_lost_home_record_is_listed_as_an_open_exception_until_an_operator_resolves_it(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    his = settle_march(net)
    lose_home_record(net, JINHUA, "e-1")
    clear_march(net, clock)

    body = api.get(f"{API}/periods/{MARCH}").json()
    assert matrix(body) == his.obligations(leave_out=("e-1",))  # held out of the period
    assert body["exceptions_open"] == 1
    (found,) = body["exceptions_found"]
    (listed,) = api.get(f"{API}/exceptions", params={"status": "OPEN"}).json()
    assert listed == found
    assert (listed["visit_region"], listed["settlement_id"], listed["event"]) == (
        SHANGHAI, "e-1", "settle")
    assert (listed["kind"], listed["status"], listed["found_in"]) == ("VISIT_ONLY", "OPEN", MARCH)
    assert listed["home_view"] is None
    split = his.splits["e-1"]
    assert (listed["visit_view"]["hifp_pay"], listed["visit_view"]["acct_pay"]) == (
        split["hifp_pay"], split["acct_pay"])
    assert "the home region reports nothing" in listed["detail"]

    net.network.hub.clearing.resolve((SHANGHAI, "e-1", "settle"), "visit", "record restored")
    assert api.get(f"{API}/exceptions", params={"status": "OPEN"}).json() == []
    (resolved,) = api.get(f"{API}/exceptions", params={"status": "RESOLVED"}).json()
    assert (resolved["status"], resolved["resolution"], resolved["note"]) == (
        "RESOLVED", "ACCEPT_VISIT", "record restored")
    assert "resolved ACCEPT_VISIT: record restored" in resolved["detail"]
    assert api.get(f"{API}/exceptions").json() == [resolved]  # no status: every exception


# --------------------------------------------------------------------------- refusals
ROUTES = (
    f"{API}/periods",
    f"{API}/periods/{MARCH}",
    f"{API}/exceptions?status=OPEN",
    f"{API}/statements/{MARCH}/{SHANGHAI}?format=csv",
)


def test_every_route_refuses_a_caller_without_an_operator_key_the_hub_accepts(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    settle_march(net)
    clear_march(net, clock)
    region_key = new_operator_key()  # Shanghai's own operators: not the hub's
    node_operator_keys(net.network.nodes[SHANGHAI].store).add(region_key)
    bare = TestClient(api.app)  # sends no Authorization header at all
    for route in ROUTES:
        assert api.get(route).status_code == 200, route
        problem(bare.get(route), 401, "OPERATOR_KEY_REQUIRED")
        problem(api.get(route, headers={"Authorization": ""}), 401, "OPERATOR_KEY_REQUIRED")
        problem(api.get(route, headers={"Authorization": "Basic dGJvXzE="}), 401,
                "OPERATOR_KEY_REQUIRED")
        for wrong in (new_operator_key(), auth(RUIJIN)["Authorization"][7:], region_key):
            problem(api.get(route, headers={"Authorization": f"Bearer {wrong}"}), 401,
                    "UNAUTHENTICATED")


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "march", "1999-12", "２０２６-03"])
def test_a_period_that_is_not_yyyy_mm_is_invalid_everywhere(
    api: TestClient, period: str
) -> None:
    problem(api.get(f"{API}/periods/{period}"), 422, "INVALID_PERIOD")
    problem(api.get(f"{API}/statements/{period}/{SHANGHAI}"), 422, "INVALID_PERIOD")


def test_unknown_periods_statements_and_bad_queries_are_refused_with_their_codes(
    net: SmallNetwork, api: TestClient, clock: TickingClock
) -> None:
    assert api.get(f"{API}/periods").json() == []
    problem(api.get(f"{API}/periods/{MARCH}"), 404, "PERIOD_NOT_CLEARED")
    problem(api.get(f"{API}/statements/{MARCH}/{SHANGHAI}"), 404, "PERIOD_NOT_CLEARED")
    settle_march(net)
    clear_march(net, clock)
    problem(api.get(f"{API}/periods/2026-04"), 404, "PERIOD_NOT_CLEARED")
    problem(api.get(f"{API}/statements/{MARCH}/320500"), 404, "STATEMENT_NOT_FOUND")
    problem(api.get(f"{API}/statements/{MARCH}/999999"), 404, "STATEMENT_NOT_FOUND")
    problem(api.get(f"{API}/statements/{MARCH}/31000"), 422, "INVALID_REGION")
    problem(api.get(f"{API}/statements/{MARCH}/310000.csv"), 422, "INVALID_REGION")
    for fmt in ("pdf", "JSON", ""):
        problem(api.get(f"{API}/statements/{MARCH}/{SHANGHAI}", params={"format": fmt}), 422,
                "INVALID_REQUEST")
    problem(api.get(f"{API}/exceptions", params={"status": "open"}), 422, "INVALID_REQUEST")
    problem(api.get(f"{API}/periods/{MARCH}/x"), 404, "NOT_FOUND")
    problem(api.post(f"{API}/periods"), 405, "METHOD_NOT_ALLOWED")
