"""The ledger and the monthly clearing through the running network (DESIGN.md §4.5-4.6).

Every test runs on SQLite and on PostgreSQL. Settlements are made through the hospital API of
the Shanghai node; the hub's clearing is driven directly. All expected money is worked out
from the splits the API returned (or from DESIGN rules), never from figures the clearing
printed: obligation of home H to visit V = Σ (hifp_pay + acct_pay) of matched events, settle
+ and cancel −; net position = owed to a region − owed by it.

A shared, controllable clock (in UTC, like the production clock) starts on 10 March 2026 and
ticks one millisecond at every reading, so moments are distinct and the tests can move across
month ends.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc, text

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
from tongban.adapters.transport import FaultyTransport
from tongban.domain import ledger as acc
from tongban.domain.calendar import SHANGHAI as SHANGHAI_TZ
from tongban.domain.ledger import Transfer
from tongban.entrypoints.api.embedded import create_network_app
from tongban.errors import Conflict

VISITS = f"/nodes/{SHANGHAI}/v1/visits"
SETTLEMENTS = f"/nodes/{SHANGHAI}/v1/settlements"
FILINGS = f"/nodes/{JINHUA}/v1/filings"
REGIONS = (SHANGHAI, JINHUA, NANJING)
RESERVE = 10_000_000  # each region's opening reserve at the hub (fen)

# 70 consultations: 175,000 fen covered, past the employees' 150,000 fen deductible.
BIG_BILL = [{"code": "001102000010000", "quantity": "70", "unit_price": 2500}]
# 10 consultations: 25,000 fen covered, past the residents' 20,000 fen deductible.
RESIDENT_BILL = [{"code": "001102000010000", "quantity": "10", "unit_price": 2500}]


def shanghai(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI_TZ)


class TickingClock:
    """A settable UTC clock shared by the hub and every node; each reading is 1 ms later."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(milliseconds=1)
            return self.now

    def set(self, moment: datetime) -> None:
        with self._lock:
            assert moment > self.now, "time only moves forward"
            self.now = moment.astimezone(UTC)


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(shanghai(2026, 3, 10))


@pytest.fixture
def net(
    tmp_path: Path, db_url_for: Callable[[str], str] | None, clock: TickingClock
) -> Iterator[SmallNetwork]:
    """The small network (SQLite, then PostgreSQL) on the test's clock."""
    network = build_small_network(tmp_path, db_url_for=db_url_for, clock=clock)
    yield network
    network.close()


@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network)) as test_client:
        yield test_client


@pytest.fixture
def hub(net: SmallNetwork) -> Any:
    clearing = net.network.hub.clearing
    for region in REGIONS:
        clearing.deposit(region, RESERVE, f"opening:{region}")
    return clearing


# --------------------------------------------------------------------------- helpers
class Hospital:
    """The HIS of a Shanghai hospital: settles and cancels, remembering what came back."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.splits: dict[str, dict[str, Any]] = {}
        self.home_of: dict[str, str] = {}
        self.institution_of: dict[str, str] = {}
        self.cancelled: set[str] = set()

    def settle(
        self,
        sid: str,
        id_number: str,
        home: str,
        lines: list[dict[str, Any]],
        institution: str = RUIJIN,
    ) -> dict[str, Any]:
        visit = self.client.post(
            VISITS,
            json={
                "institution_code": institution,
                "id_number": id_number,
                "med_type": "outpatient",
            },
            headers=auth(institution),
        )
        assert visit.status_code == 201, visit.text
        response = self.client.post(
            SETTLEMENTS,
            json={"settlement_id": sid, "visit_id": visit.json()["visit_id"], "lines": lines},
            headers=auth(institution),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "SETTLED"
        split = response.json()["split"]
        self.splits[sid], self.home_of[sid], self.institution_of[sid] = split, home, institution
        return dict(split)

    def cancel(self, sid: str) -> None:
        response = self.client.post(
            f"{SETTLEMENTS}/{sid}/cancel", headers=auth(self.institution_of[sid])
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "CANCELLED"
        self.cancelled.add(sid)

    def money(self, sid: str) -> int:
        return int(self.splits[sid]["hifp_pay"] + self.splits[sid]["acct_pay"])


def file_for_shanghai(client: TestClient, net: SmallNetwork, id_number: str) -> None:
    response = client.post(
        FILINGS,
        json={"kind": "other", "target_region": SHANGHAI, "commitment": True},
        headers=resident_auth(net, client.post, id_number),
    )
    assert response.status_code == 201, response.text


def balances(net: SmallNetwork, region: str) -> dict[str, int]:
    """Debit balance of every account in a node's ledger."""
    with net.network.nodes[region].store.read() as tx:
        return {a: b.debit_balance for a, b in tx.ledger.balances().items()}


def hub_balances(net: SmallNetwork) -> dict[str, int]:
    return {a: b.debit_balance for a, b in net.network.hub.clearing.store.balances().items()}


def person_id(net: SmallNetwork, region: str, id_number: str) -> int:
    with net.network.nodes[region].store.read() as tx:
        person = tx.person_by_id_number(id_number)
        assert person is not None
        return int(person.person_id)


def obligations_from(
    his: Hospital, sids: list[tuple[str, int]]
) -> dict[tuple[str, str], list[int]]:
    """(home, visit) -> [events, medfee, fund, account] over (settlement id, sign) events."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for sid, sign in sids:
        split, s = his.splits[sid], sums[(his.home_of[sid], SHANGHAI)]
        s[0] += sign
        s[1] += sign * split["medfee_sumamt"]
        s[2] += sign * split["hifp_pay"]
        s[3] += sign * split["acct_pay"]
    return dict(sums)


def table(obligations: Any) -> dict[tuple[str, str], list[int]]:
    return {
        (o.home_region, o.visit_region): [o.events, o.medfee_sumamt, o.hifp_pay, o.acct_pay]
        for o in obligations
    }


def positions_from(obligations: dict[tuple[str, str], list[int]]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for (home, visit), (_events, _medfee, fund, account) in obligations.items():
        net[visit] += fund + account
        net[home] -= fund + account
    return dict(net)


def assert_books_sound(net: SmallNetwork) -> None:
    for region in REGIONS:
        with net.network.nodes[region].store.read() as tx:
            audit = tx.ledger.audit()
        assert audit.sound, (region, audit)
    assert net.network.hub.clearing.store.audit().sound


def assert_clearing_booked(net: SmallNetwork, period: str) -> None:
    """After a closed period with nothing held out: transit accounts and dues back to zero."""
    for region in REGIONS:
        book = balances(net, region)
        assert book.get(acc.CLEARING, 0) == 0, region
        for account, value in book.items():
            if account.startswith(("due_from_home:", "due_to_visit:")):
                assert value == 0, (region, account, value)
    assert hub_balances(net).get(acc.clearing_of(period), 0) == 0




def delete_home_record(net: SmallNetwork, region: str, sid: str) -> None:
    """A lost record: only the settlement row goes; the ledger transfers stay (immutable)."""
    with net.network.nodes[region].store.db.write() as conn:
        gone = conn.execute(
            text("DELETE FROM home_settlements WHERE settlement_id = :sid"), {"sid": sid}
        )
        assert gone.rowcount == 1


# --------------------------------------------------------------------------- the ledger
def test_settling_and_cancelling_post_transfers_whose_balances_agree_with_the_settlements(
    net: SmallNetwork, client: TestClient
) -> None:
    his = Hospital(client)
    file_for_shanghai(client, net, RESIDENT_ID)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.settle("e-2", EMPLOYEE_ID, JINHUA, golden_lines(), institution=COMMUNITY)
    his.settle("r-1", RESIDENT_ID, JINHUA, RESIDENT_BILL, institution=COMMUNITY)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    his.settle("n-2", NANJING_ID, NANJING, golden_lines())
    his.cancel("e-1")
    his.cancel("n-2")
    assert his.splits["e-1"]["hifp_pay"] > 0 and his.splits["e-1"]["acct_pay"] > 0
    assert his.splits["r-1"]["hifp_pay"] > 0

    standing = [sid for sid in his.splits if sid not in his.cancelled]
    visit = balances(net, SHANGHAI)
    for home in (JINHUA, NANJING):
        owed = sum(his.money(s) for s in standing if his.home_of[s] == home)
        assert visit[acc.due_from_home(home)] == owed, home
    for institution in (RUIJIN, COMMUNITY):
        owed = sum(his.money(s) for s in standing if his.institution_of[s] == institution)
        assert -visit[acc.due_to_hospital(institution)] == owed, institution

    for home, people in ((JINHUA, (EMPLOYEE_ID, RESIDENT_ID)), (NANJING, (NANJING_ID,))):
        mine = [s for s in standing if his.home_of[s] == home]
        book = balances(net, home)
        assert book[acc.FUND_EXPENSE] == sum(his.splits[s]["hifp_pay"] for s in mine)
        assert -book[acc.due_to_visit(SHANGHAI)] == sum(his.money(s) for s in mine)
        for id_number in people:
            account = acc.personal_account(person_id(net, home, id_number))
            # The personal account is a liability to the insured: its credit balance is hers.
            stored = net.person_state(home, id_number)["account_balance"]
            assert -book.get(account, 0) == stored, id_number

    # The employee's account paid only for the standing e-2 (e-1's debit came back).
    spent = his.splits["e-2"]["acct_pay"]
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 2000 - spent
    assert_books_sound(net)


def test_a_cancel_posts_the_settles_transfers_back_so_both_sides_return_to_where_they_were(
    net: SmallNetwork, client: TestClient
) -> None:
    before = {region: balances(net, region) for region in (SHANGHAI, JINHUA)}
    his = Hospital(client)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.cancel("e-1")
    for region in (SHANGHAI, JINHUA):
        after = balances(net, region)
        for account in before[region].keys() | after.keys():
            assert after.get(account, 0) == before[region].get(account, 0), (region, account)
        with net.network.nodes[region].store.read() as tx:
            moved = tx.ledger.history(ref="e-1")
        codes = sorted(str(t["code"]) for t in moved)
        # Settle and cancel of the fund's and the account's share, one transfer each.
        assert codes == ["cancel.account", "cancel.fund", "settle.account", "settle.fund"]


def test_posting_the_same_transfer_twice_is_a_no_op(net: SmallNetwork) -> None:
    store = net.network.nodes[JINHUA].store
    t = Transfer("test:1", acc.FUND_EXPENSE, acc.due_to_visit(SHANGHAI), 700, "test", "t1")
    with store.write() as tx:
        assert tx.post([t], net.clock()) == 1
    with store.write() as tx:
        assert tx.post([t], net.clock()) == 0
        assert tx.post([t, t.reversed("test:2", "test")], net.clock()) == 1
    with store.read() as tx:
        assert len(tx.ledger.history(ref="t1")) == 2
        assert tx.ledger.balance(acc.due_to_visit(SHANGHAI)).credit_balance == 0


def test_the_same_transfer_id_with_other_content_is_refused_and_its_group_is_not_written(
    net: SmallNetwork,
) -> None:
    store = net.network.nodes[SHANGHAI].store
    first = Transfer(
        "test:1", acc.due_from_home(JINHUA), acc.due_to_hospital(RUIJIN), 700, "test", "t1"
    )
    with store.write() as tx:
        tx.post([first], net.clock())
    before = balances(net, SHANGHAI)

    fresh = Transfer(
        "test:2", acc.due_from_home(NANJING), acc.due_to_hospital(RUIJIN), 300, "test", "t1"
    )
    other = Transfer(
        "test:1", acc.due_from_home(JINHUA), acc.due_to_hospital(RUIJIN), 701, "test", "t1"
    )
    with pytest.raises(Conflict) as refused, store.write() as tx:
        tx.post([fresh, other], net.clock())
    assert refused.value.code == "TRANSFER_EXISTS"

    assert balances(net, SHANGHAI) == before
    with store.read() as tx:
        assert [r["transfer_id"] for r in tx.ledger.history(ref="t1")] == ["test:1"]
        assert tx.ledger.history(ref="t1")[0]["amount"] == 700


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_transfers SET amount = amount + 1 WHERE transfer_id = :id",
        "UPDATE ledger_transfers SET credit = 'hub_bank' WHERE transfer_id = :id",
        "DELETE FROM ledger_transfers WHERE transfer_id = :id",
    ],
    ids=["update-amount", "update-account", "delete"],
)
def test_the_database_refuses_to_change_or_delete_a_ledger_transfer(
    net: SmallNetwork, statement: str
) -> None:
    t = Transfer("test:1", acc.HUB_BANK, acc.reserve(JINHUA), 700, "deposit", JINHUA)
    node = net.network.nodes[JINHUA].store
    with node.write() as tx:
        tx.post([t], net.clock())
    net.network.hub.clearing.store.post([t], net.clock())

    for db in (node.db, net.network.hub.store.db):
        with pytest.raises(exc.DBAPIError, match="immutable"), db.write() as conn:
            conn.execute(text(statement), {"id": "test:1"})
        with db.read() as conn:
            rows = conn.execute(
                text("SELECT debit, credit, amount FROM ledger_transfers WHERE transfer_id = :id"),
                {"id": "test:1"},
            ).all()
        assert [tuple(r) for r in rows] == [(acc.HUB_BANK, acc.reserve(JINHUA), 700)]


# --------------------------------------------------------------------------- clearing
def test_clearing_a_month_confirms_every_statement_nets_to_zero_and_moves_the_reserves(
    net: SmallNetwork, client: TestClient, hub: Any, clock: TickingClock
) -> None:
    his = Hospital(client)
    file_for_shanghai(client, net, RESIDENT_ID)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.settle("r-1", RESIDENT_ID, JINHUA, RESIDENT_BILL, institution=COMMUNITY)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    his.settle("n-2", NANJING_ID, NANJING, golden_lines(), institution=COMMUNITY)
    clock.set(shanghai(2026, 3, 20))
    his.settle("e-2", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.cancel("n-1")
    reserves_before, _alerts = hub.reserves()
    assert reserves_before == dict.fromkeys(REGIONS, RESERVE)

    clock.set(shanghai(2026, 4, 2))
    summary = hub.clear("2026-03")

    events = [(sid, 1) for sid in his.splits] + [(sid, -1) for sid in his.cancelled]
    expected = obligations_from(his, events)
    assert table(summary.obligations) == expected
    positions = positions_from(expected)
    assert positions[SHANGHAI] > 0 > positions[JINHUA]
    assert summary.positions == positions
    assert sum(summary.positions.values()) == 0
    assert summary.matched == len(events)
    assert summary.exceptions_found == [] and summary.exceptions_open == 0
    assert summary.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert summary.status == "CLOSED"

    # The hub moved each reserve by exactly the region's net.
    reserves_after, _alerts = hub.reserves()
    assert reserves_after == {r: RESERVE + positions.get(r, 0) for r in REGIONS}
    assert summary.reserves == reserves_after
    held = hub_balances(net)
    for region in REGIONS:
        assert -held[acc.reserve(region)] == RESERVE + positions.get(region, 0)
    # Each statement's net is the region's position, as the statement itself says.
    for s in hub.store.statements("2026-03"):
        body = json.loads(s["body"])
        assert body["net"] == s["net"] == positions.get(s["region"], 0)
        assert body["receivable"] - body["payable"] == body["net"]

    # Each node booked the clearing: dues settled through its reserve at the hub.
    for region in REGIONS:
        assert balances(net, region).get(acc.RESERVE_AT_HUB, 0) == positions.get(region, 0)
    assert_clearing_booked(net, "2026-03")
    assert_books_sound(net)


def test_a_closed_period_cannot_be_cleared_again(
    net: SmallNetwork, client: TestClient, hub: Any, clock: TickingClock
) -> None:
    Hospital(client).settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    clock.set(shanghai(2026, 4, 2))
    assert hub.clear("2026-03").status == "CLOSED"
    reserves = hub.reserves()[0]

    with pytest.raises(Conflict) as refused:
        hub.clear("2026-03")
    assert refused.value.code == "PERIOD_CLOSED"
    assert hub.reserves()[0] == reserves
    assert hub.summary("2026-03").status == "CLOSED"


def test_a_cancel_after_the_month_was_closed_is_cleared_in_the_next_month(
    net: SmallNetwork,
    client: TestClient,
    hub: Any,
    clock: TickingClock,
    request: pytest.FixtureRequest,
) -> None:
    his = Hospital(client)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    clock.set(shanghai(2026, 4, 2))
    march = hub.clear("2026-03")
    assert march.status == "CLOSED"
    assert table(march.obligations) == obligations_from(his, [("e-1", 1), ("n-1", 1)])

    clock.set(shanghai(2026, 4, 3))
    his.cancel("e-1")
    clock.set(shanghai(2026, 5, 2))
    april = hub.clear("2026-04")

    expected = obligations_from(his, [("e-1", -1)])
    assert table(april.obligations) == expected
    assert april.positions == positions_from(expected)
    assert april.positions[SHANGHAI] == -his.money("e-1")  # Shanghai pays the cancel back
    assert april.status == "CLOSED"
    assert april.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert table(hub.store.obligations("2026-03")) == table(march.obligations)  # untouched
    assert hub.reserves()[0] == {
        r: RESERVE + march.positions.get(r, 0) + april.positions.get(r, 0) for r in REGIONS
    }
    assert_clearing_booked(net, "2026-04")
    assert_books_sound(net)


def test_a_cancel_later_in_a_month_closed_early_is_cleared_in_the_next_month(
    net: SmallNetwork,
    client: TestClient,
    hub: Any,
    clock: TickingClock,
    request: pytest.FixtureRequest,
) -> None:
    his = Hospital(client)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    clock.set(shanghai(2026, 3, 20))
    march = hub.clear("2026-03")  # before the month is over: the window stops now
    assert march.status == "CLOSED"
    assert march.window_to < shanghai(2026, 3, 21)
    assert table(march.obligations) == obligations_from(his, [("e-1", 1)])

    clock.set(shanghai(2026, 3, 25))
    his.cancel("e-1")
    clock.set(shanghai(2026, 5, 2))
    april = hub.clear("2026-04")

    assert april.window_from == march.window_to
    assert table(april.obligations) == obligations_from(his, [("e-1", -1)])
    assert april.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert_clearing_booked(net, "2026-04")


def test_consecutive_windows_meet_at_midnight_in_shanghai_so_no_event_falls_between_them(
    net: SmallNetwork,
    client: TestClient,
    hub: Any,
    clock: TickingClock,
    request: pytest.FixtureRequest,
) -> None:
    his = Hospital(client)
    clock.set(shanghai(2026, 3, 31, 23))
    his.settle("late-march", EMPLOYEE_ID, JINHUA, BIG_BILL)
    clock.set(shanghai(2026, 4, 1, 3))
    his.settle("early-april", NANJING_ID, NANJING, BIG_BILL)

    clock.set(shanghai(2026, 4, 2))
    march = hub.clear("2026-03")
    assert march.window_to == shanghai(2026, 4, 1, 0)  # the same instant, in any zone
    assert table(march.obligations) == obligations_from(his, [("late-march", 1)])

    clock.set(shanghai(2026, 5, 2))
    april = hub.clear("2026-04")
    assert april.window_from == march.window_to
    assert table(april.obligations) == obligations_from(his, [("early-april", 1)])
    assert april.statements == dict.fromkeys(REGIONS, "CONFIRMED")


def test_a_lost_home_record_is_a_visit_only_exception_held_out_and_carried_once_resolved(
    net: SmallNetwork, client: TestClient, hub: Any, clock: TickingClock
) -> None:
    his = Hospital(client)
    his.settle("e-1", EMPLOYEE_ID, JINHUA, BIG_BILL)
    his.settle("e-2", EMPLOYEE_ID, JINHUA, golden_lines(), institution=COMMUNITY)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    delete_home_record(net, JINHUA, "e-1")

    clock.set(shanghai(2026, 4, 2))
    march = hub.clear("2026-03")

    key = (SHANGHAI, "e-1", "settle")
    assert [(x.key, x.kind, x.status) for x in march.exceptions_found] == [
        (key, "VISIT_ONLY", "OPEN")
    ]
    (found,) = march.exceptions_found
    assert found.home_view is None
    assert found.visit_view["hifp_pay"] == his.splits["e-1"]["hifp_pay"]
    assert found.visit_view["acct_pay"] == his.splits["e-1"]["acct_pay"]
    expected = obligations_from(his, [("e-2", 1), ("n-1", 1)])  # e-1 held out
    assert table(march.obligations) == expected
    assert march.positions == positions_from(expected)
    assert march.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert march.status == "CLOSED"
    for region in (SHANGHAI, JINHUA):  # both parties' statements list it as held out
        (s,) = [s for s in hub.store.statements("2026-03") if s["region"] == region]
        held = json.loads(s["body"])["exceptions"]
        assert [(x["settlement_id"], x["kind"]) for x in held] == [("e-1", "VISIT_ONLY")]

    resolved = hub.resolve(key, "visit", "hospital paid, home record restored")
    assert (resolved.status, resolved.resolution, resolved.cleared_in) == (
        "RESOLVED",
        "ACCEPT_VISIT",
        None,
    )

    clock.set(shanghai(2026, 5, 2))
    april = hub.clear("2026-04")

    carried = obligations_from(his, [("e-1", 1)])
    assert table(april.obligations) == carried
    assert april.positions == positions_from(carried)
    assert april.carried == 1
    assert april.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert april.status == "CLOSED"
    after = hub.store.exception(key)
    assert (after.status, after.resolution, after.cleared_in) == (
        "RESOLVED",
        "ACCEPT_VISIT",
        "2026-04",
    )
    assert (after.hifp_pay, after.acct_pay) == (
        his.splits["e-1"]["hifp_pay"],
        his.splits["e-1"]["acct_pay"],
    )
    assert hub.reserves()[0] == {
        r: RESERVE + march.positions.get(r, 0) + april.positions.get(r, 0) for r in REGIONS
    }
    # With e-1 carried, every due at both nodes is settled (Jinhua's ledger still had e-1).
    assert_clearing_booked(net, "2026-04")
    assert_books_sound(net)


def test_an_unknown_settlement_is_home_only_until_recovery_and_then_matched_and_carried(
    net: SmallNetwork, client: TestClient, hub: Any, clock: TickingClock
) -> None:
    his = Hospital(client)
    his.settle("n-1", NANJING_ID, NANJING, BIG_BILL)
    runtime = net.network.nodes[SHANGHAI]
    faulty = FaultyTransport(runtime.exchange.transport)
    runtime.exchange.transport = faulty
    faulty.drop_answer = lambda _endpoint, payload: json.loads(payload)["kind"] == "commit"
    visit = client.post(
        VISITS, json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID}, headers=auth()
    )
    assert visit.status_code == 201, visit.text
    lost = client.post(
        SETTLEMENTS,
        headers=auth(),
        json={"settlement_id": "e-lost", "visit_id": visit.json()["visit_id"], "lines": BIG_BILL},
    )
    assert lost.status_code == 202 and lost.json()["status"] == "UNKNOWN", lost.text
    faulty.drop_answer = None
    with net.network.nodes[JINHUA].store.read() as tx:
        committed = tx.home_settlement(SHANGHAI, "e-lost")
    assert committed is not None and committed.status.value == "COMMITTED"

    clock.set(shanghai(2026, 4, 2))
    march = hub.clear("2026-03")

    key = (SHANGHAI, "e-lost", "settle")
    assert [(x.key, x.kind) for x in march.exceptions_found] == [(key, "HOME_ONLY")]
    assert table(march.obligations) == obligations_from(his, [("n-1", 1)])
    assert march.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert march.status == "CLOSED"

    report = net.node(SHANGHAI).visit.recover(everything=True)
    assert report.settled == ["e-lost"]
    status = client.get(f"{SETTLEMENTS}/e-lost", headers=auth())
    assert status.json()["status"] == "SETTLED"
    his.splits["e-lost"], his.home_of["e-lost"] = status.json()["split"], JINHUA
    assert his.splits["e-lost"]["hifp_pay"] == committed.hifp_pay

    clock.set(shanghai(2026, 5, 2))
    april = hub.clear("2026-04")

    carried = obligations_from(his, [("e-lost", 1)])
    assert table(april.obligations) == carried
    assert april.positions == positions_from(carried)
    assert april.carried == 1
    assert april.exceptions_open == 0
    after = hub.store.exception(key)
    assert (after.status, after.resolution, after.cleared_in) == (
        "RESOLVED",
        "MATCHED_LATER",
        "2026-04",
    )
    assert april.statements == dict.fromkeys(REGIONS, "CONFIRMED")
    assert april.status == "CLOSED"
    assert_clearing_booked(net, "2026-04")
    assert_books_sound(net)
