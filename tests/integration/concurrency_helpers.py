"""Real concurrent hospitals for the concurrency tests, and the serial replay that judges them.

The small network (tests/network_fixtures.py) is served over real HTTP by uvicorn in a
background thread; every client thread has its own ``httpx.Client`` and acts for one
hospital: 瑞金 (level 3) and the Fenglin community centre (level 1) in Shanghai, and a level-2
Nanjing hospital added here, so one Jinhua patient is settled from two visit regions at once.

Expected outcomes are never copied from the system: committed settlements are replayed in
their commit order with the pure rules of DESIGN.md §4.1-4.2 (``classify``, ``compute_split``,
``commit_delta``), starting from the state read before the concurrent phase.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import httpx
from sqlalchemy import text

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_OUTPATIENT,
    GOLDEN_CATALOGUE,
    JINHUA,
    KEYS,
    NANJING,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    resident_auth,
)
from tongban.domain.case import parse_catalogue, parse_policy
from tongban.domain.catalogue import BillLine, classify
from tongban.domain.identifiers import make_id_number
from tongban.domain.policy import (
    FilingCategory,
    MedType,
    PersonState,
    Split,
    apply_delta,
    commit_delta,
    compute_split,
)
from tongban.service_layer.node import InsuredPerson
from tongban.service_layer.records import HomeSettlementRecord, InstitutionRecord

T = TypeVar("T")

GULOU = "H32010000007"  # a level-2 hospital in Nanjing, added by prepare_network
HOSPITAL_KEYS = {**KEYS, GULOU: "key-gulou"}
REGION_OF = {RUIJIN: SHANGHAI, COMMUNITY: SHANGHAI, GULOU: NANJING}
LEVEL_OF = {RUIJIN: 3, COMMUNITY: 1, GULOU: 2}
HOSPITALS = (RUIJIN, COMMUNITY, GULOU)

# A Jinhua employee with a referral filing (转诊) to Shanghai and 40,000 fen in her account:
# Shanghai visits pay at 0.85 − 0.10 = 0.75, Nanjing visits are unfiled: 0.85 − 0.20 = 0.65.
BUSY_ID = make_id_number("330702", date(1961, 9, 14), 58)
BUSY_BALANCE = 40000
CATEGORY_IN = {SHANGHAI: FilingCategory.REFERRAL, NANJING: FilingCategory.NONE}
CATALOGUE = parse_catalogue(GOLDEN_CATALOGUE)
ANNUAL_CAP = int(str(EMPLOYEE_OUTPATIENT["annual_cap"]))
DEDUCTIBLE = int(str(EMPLOYEE_OUTPATIENT["deductible"]))


def prepare_network(net: SmallNetwork, base_url: str) -> None:
    """Add the Nanjing hospital and the busy patient (with her referral filing)."""
    net.node(NANJING).load_reference(
        institutions=[(InstitutionRecord(GULOU, "江苏省人民医院", 2, True), HOSPITAL_KEYS[GULOU])]
    )
    people = [InsuredPerson(BUSY_ID, "赵美兰", "310", BUSY_BALANCE)]
    pseudonyms = net.node(JINHUA).load_reference(people=people)
    net.network.nodes[JINHUA].exchange.call("hub", "locator.register", {"pseudonyms": pseudonyms})
    filing = httpx.post(
        f"{base_url}/nodes/{JINHUA}/v1/filings",
        json={"kind": "referral", "target_region": SHANGHAI, "commitment": True},
        headers=resident_auth(net, httpx.post, BUSY_ID, base=base_url),
    )
    assert filing.status_code == 201, filing.text


@dataclass(frozen=True)
class Bill:
    """One settlement a hospital will send: its id, visit and lines."""

    sid: str
    hospital: str
    visit_id: str
    lines: tuple[dict[str, Any], ...]
    use_account: bool = True

    @property
    def body(self) -> dict[str, Any]:
        return {"settlement_id": self.sid, "visit_id": self.visit_id,
                "lines": list(self.lines), "use_account": self.use_account}


class Hospitals:
    """HIS clients: one ``httpx.Client`` per thread, each request acting for one hospital."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.base_url, timeout=60)
            with self._lock:
                self._clients.append(client)
        return client

    def _post(self, hospital: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        url = f"/nodes/{REGION_OF[hospital]}/v1{path}"
        headers = {"Authorization": f"Bearer {HOSPITAL_KEYS[hospital]}"}
        return self._client().post(url, json=body, headers=headers)

    def register(self, hospital: str, id_number: str) -> str:
        body = {"institution_code": hospital, "id_number": id_number, "med_type": "outpatient"}
        response = self._post(hospital, "/visits", body)
        assert response.status_code == 201, response.text
        return str(response.json()["visit_id"])

    def bill(self, sid: str, hospital: str, lines: Sequence[dict[str, Any]],
             use_account: bool = True) -> Bill:
        """Register the busy patient's visit at ``hospital``: the bill it will settle."""
        return Bill(sid, hospital, self.register(hospital, BUSY_ID), tuple(lines), use_account)

    def bills(self, specs: Sequence[tuple[str, str, list[dict[str, Any]], bool]]) -> list[Bill]:
        """``bill`` for each (sid, hospital, lines, use_account), registering concurrently."""
        return run_concurrently([partial(self.bill, *spec) for spec in specs])

    def settle(self, bill: Bill) -> httpx.Response:
        return self._post(bill.hospital, "/settlements", bill.body)

    def cancel(self, bill: Bill) -> httpx.Response:
        return self._post(bill.hospital, f"/settlements/{bill.sid}/cancel", None)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def run_concurrently(tasks: Sequence[Callable[[], T]], workers: int = 16,
                     start_together: bool = False) -> list[T]:
    """Run every task on a pool of ``workers`` threads; results in task order.

    ``start_together``: the tasks (at most ``workers``) wait at a barrier and go at once.
    """
    barrier = threading.Barrier(len(tasks)) if start_together else None
    assert barrier is None or len(tasks) <= workers

    def go(task: Callable[[], T]) -> T:
        if barrier is not None:
            barrier.wait(timeout=30)
        return task()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(go, tasks))


def run_behind_busy_patient(net: SmallNetwork, tasks: Sequence[Callable[[], T]],
                            workers: int = 16) -> list[T]:
    """Like ``run_concurrently``, but the first ``workers`` tasks find the patient busy.

    A slow writer holds the person (``patient_busy``) until every one of them has queued
    for the lock, so the home node sees a burst of simultaneous requests, then the rest.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        with patient_busy(net, BUSY_ID):
            futures = [pool.submit(task) for task in tasks]
            wait_until_queued(net, min(workers, len(tasks)))
        return [future.result() for future in futures]


# --- bills -------------------------------------------------------------------------------------
def varied_lines(k: int) -> list[dict[str, Any]]:
    """The golden bill's four lines with quantities varied by ``k``: 5,991-42,823 fen.

    All four classification rules act: class A, class B over its price cap with a 10 %
    up-front share, class C (self-paid), class B with a half-unit quantity and a 5 % share.
    """
    lines = [
        {"code": "001102000010000", "quantity": str(1 + k % 6), "unit_price": 2500},
        {"code": "XA01ABD075A002010100483", "quantity": str(1 + k % 4), "unit_price": 1230},
        {"code": "ZC01AAA0001000000000001", "quantity": str(k % 3), "unit_price": 5800},
        {"code": "XN02BEA005A001010101234", "quantity": str(Decimal("0.5") * (1 + k % 5)),
         "unit_price": 4521},
    ]
    return [line for line in lines if Decimal(line["quantity"]) > 0]


def huge_lines(k: int) -> list[dict[str, Any]]:
    """About 16 million fen of consultations: three such bills pass the 30 million fen cap."""
    return [{"code": "001102000010000", "quantity": str(6400 + 40 * k), "unit_price": 2500}]


# --- the home node's records and the serial replay ----------------------------------------------
def state_of(figures: dict[str, int]) -> PersonState:
    return PersonState(
        deductible_used=figures["deductible_used"],
        fund_paid=figures["fund_paid"],
        account_balance=figures["account_balance"],
        admissions=figures["admissions"],
    )


def figures_of(state: PersonState) -> dict[str, int]:
    return {"deductible_used": state.deductible_used, "fund_paid": state.fund_paid,
            "admissions": state.admissions, "account_balance": state.account_balance}


def home_records(
    net: SmallNetwork, sids: Sequence[str], visit_region: str | None = None
) -> dict[str, HomeSettlementRecord]:
    """The Jinhua node's record of each id (asserting it has one), from either visit region
    unless one is named (ids are unique per visit region; these tests keep them apart)."""
    regions = [visit_region] if visit_region else [SHANGHAI, NANJING]
    with net.network.nodes[JINHUA].store.read() as tx:
        records = {
            sid: next(filter(None, (tx.home_settlement(r, sid) for r in regions)), None)
            for sid in sids
        }
    missing = [sid for sid, record in records.items() if record is None]
    assert not missing, f"the home node has no record of {missing}"
    return {sid: record for sid, record in records.items() if record is not None}


def replayed_split(bill: Bill, state: PersonState) -> Split:
    """What DESIGN.md §4.1-4.2 say this bill pays when the person is in ``state``."""
    lines = [BillLine(x["code"], Decimal(x["quantity"]), x["unit_price"]) for x in bill.lines]
    pieces = classify(lines, CATALOGUE).pieces
    policy = parse_policy({**EMPLOYEE_OUTPATIENT, "level": LEVEL_OF[bill.hospital]})
    category = CATEGORY_IN[REGION_OF[bill.hospital]]
    return compute_split(pieces, policy, state, category, bill.use_account)


@dataclass
class Replay:
    final: PersonState
    splits: dict[str, Split]
    states: list[PersonState]  # the state after each step, in commit order


def replay_in_commit_order(bills: Sequence[Bill], records: dict[str, HomeSettlementRecord],
                           initial: PersonState) -> Replay:
    """Replay the bills one by one in the home node's commit order, from ``initial``.

    The commit times must be distinct: they are taken under the person's lock, so they *are*
    the serial order the home node chose.
    """
    order = sorted(bills, key=lambda b: _at(records[b.sid]))
    times = [_at(records[b.sid]) for b in order]
    assert len(set(times)) == len(times), "two commits carry the same commit time"
    state, splits, states = initial, {}, []
    for bill in order:
        split = splits[bill.sid] = replayed_split(bill, state)
        state = apply_delta(state, commit_delta(split, MedType.OUTPATIENT))
        states.append(state)
    return Replay(state, splits, states)


def _at(record: HomeSettlementRecord) -> Any:
    assert record.committed_at is not None
    return record.committed_at


def stored_split(record: HomeSettlementRecord) -> dict[str, Any]:
    assert record.split is not None, f"{record.settlement_id} has no split"
    return dict(json.loads(record.split))


# --- holding the patient's lock, to force an interleaving -----------------------------------
class CountingLock:
    """The SQLite node's in-process writer lock, counting the writers in it or waiting for it."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._guard = threading.Lock()
        self.writers = 0

    def __enter__(self) -> CountingLock:
        with self._guard:
            self.writers += 1
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        with self._guard:
            self.writers -= 1


@contextmanager
def patient_busy(net: SmallNetwork, id_number: str) -> Iterator[None]:
    """Hold the home node's write lock on the person while the body runs.

    PostgreSQL: the person's row, ``SELECT ... FOR UPDATE`` (what commit and cancel lock).
    SQLite: the database's write lock (``BEGIN IMMEDIATE``), what serialises every writer.
    Requests sent meanwhile queue exactly where they would behind a slow concurrent writer.
    """
    db = net.network.nodes[JINHUA].store.db
    if db.is_sqlite and not isinstance(db._writer, CountingLock):
        db._writer = CountingLock(db._writer)  # type: ignore[assignment]
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin() as tx:
            lock = "" if db.is_sqlite else " FOR UPDATE"
            found = conn.execute(
                text(f"SELECT person_id FROM persons WHERE id_number = :id{lock}"),
                {"id": id_number},
            )
            assert found.first() is not None
            yield
            tx.rollback()


def wait_until_queued(net: SmallNetwork, waiting: int) -> None:
    """Until ``waiting`` requests are stuck behind ``patient_busy`` at the home node.

    PostgreSQL: backends waiting for a person's row lock. SQLite: writers inside or waiting
    for the node's writer lock (all stuck, since ``patient_busy`` holds the database).
    """
    db = net.network.nodes[JINHUA].store.db
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND query ILIKE :waiting_for_a_person")
    pattern = {"waiting_for_a_person": "%FROM persons%FOR UPDATE%"}
    deadline = time.monotonic() + 30
    with db.engine.connect() as conn:
        while (db._writer.writers if db.is_sqlite  # type: ignore[attr-defined]
               else conn.execute(query, pattern).scalar_one()) < waiting:
            assert time.monotonic() < deadline, f"fewer than {waiting} requests queued"
            time.sleep(0.02)
            conn.rollback()
