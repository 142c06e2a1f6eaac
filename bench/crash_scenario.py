"""The crash scenario: hospitals settle over HTTP while nodes are SIGKILLed and restarted.

A hub, the Shanghai visit node (310000) and home nodes (Jinhua 330700, Nanjing 320100) run as
`tongban` processes (tests/e2e/process_network.py). HIS threads, one Shanghai hospital each,
register visits of the homes' insured and settle sample bills with fresh settlement ids, and
cancel some. Like a real HIS they retry the same id with the same content on connection
errors, timeouts, 202 (UNKNOWN / CANCELLING) and 503 until a final answer, and keep what
was acknowledged. Meanwhile one thread per node SIGKILLs it at seeded random moments and
starts it again (its start-up recovery runs). ``verify`` then holds both sides' databases
and ledgers against every acknowledgement (``violations``), and runs `tongban ledger check`.

Shared by tests/e2e/test_crash_under_load.py (short, asserted) and bench/bench_crash.py (long,
printed). The seed fixes the kill moments, people, hospitals and bills; thread timing is the
machine's, so a failing seed reproduces the conditions, not the exact interleaving.
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

# The process harness lives with the end-to-end tests, which run this scenario too.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from process_network import (
    HUB,
    JINHUA,
    NANJING,
    SAMPLE_SEED,
    SHANGHAI,
    Processes,
    ProcessFailed,
    init_network,
    read_rows,
)

from crash_verify import UNRESOLVED, balances, verify
from tongban.demo.network import population
from tongban.demo.sample_bills import OUTPATIENT_MEAN_FEN, sample_bill
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.domain.policy import MedType

SEED_ENV = "TONGBAN_CRASH_SEED"
WAITING_ROOM = 3  # visits each HIS registers ahead of settling them


@dataclass(frozen=True)
class CrashPlan:
    seconds: float = 20.0  # new settlements start during this long
    kills: int = 2  # SIGKILLs of each node process
    clients: int = 4  # HIS threads, one hospital each
    seed: int = 0
    homes: tuple[str, ...] = (JINHUA, NANJING)
    cancel_share: float = 0.25
    drain: float = 30.0  # after the load: the longest an open settlement is still retried
    people_per_home: int = 6  # few people, so settlements of one person run concurrently


@dataclass
class HisSettlement:
    """One settlement id as the hospital's HIS knows it."""

    settlement_id: str
    home: str
    requests: int = 0
    retries: int = 0  # requests repeated (same id, same content) for want of a final answer
    outcome: str = ""  # SETTLED, VOIDED or REFUSED; "" while no final answer
    code: str = ""  # the refusal's problem code
    split: dict[str, int] | None = None
    cancel: str = ""  # "asked", then "CANCELLED" once acknowledged


@dataclass(frozen=True)
class Restart:
    node: str
    down: float  # s from the SIGKILL to the launch of the new process
    ready: float  # s from the launch to answering /v1/health
    stranded: int  # settlements the crash left unresolved at the visit node
    resolved: float | None  # s from the launch until all of them were resolved


@dataclass
class CrashReport:
    plan: CrashPlan
    kills: Counter[str]
    settlements: list[HisSettlement]
    restarts: list[Restart]
    retries: Counter[str]  # repeated requests, by what the HIS saw
    violations: list[str]
    exactly_once: int = 0  # acknowledged SETTLED ids found once, same money, on both sides
    elapsed: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(s.outcome == outcome for s in self.settlements)

    @property
    def unanswered(self) -> int:
        return sum(not s.outcome or s.cancel == "asked" for s in self.settlements)

    def figures(self) -> list[tuple[str, str]]:
        settled = [s for s in self.settlements if s.outcome == "SETTLED"]
        refusals = Counter(s.code for s in self.settlements if s.outcome == "REFUSED")
        ready = [r.ready for r in self.restarts]
        resolved = [r.resolved for r in self.restarts if r.resolved is not None]
        return [
            ("seed", str(self.plan.seed)),
            ("kills per node", ", ".join(f"{n} {k}" for n, k in sorted(self.kills.items()))),
            ("settlements attempted", str(len(self.settlements))),
            ("acknowledged SETTLED", str(len(settled))),
            ("  of which cancel acknowledged", str(sum(s.cancel == "CANCELLED" for s in settled))),
            ("acknowledged refused", f"{sum(refusals.values())} {dict(refusals)}"),
            ("acknowledged VOIDED", str(self.count("VOIDED"))),
            ("no final answer in time", str(self.unanswered)),
            ("SETTLED present exactly once, both sides", str(self.exactly_once)),
            ("retries (same id, same content)", str(sum(s.retries for s in self.settlements))),
            ("repeated requests by cause", ", ".join(f"{k} {v}" for k, v in
                                                     self.retries.most_common())),
            ("restart to healthy (median / max)", _spread(ready)),
            ("restart to stranded resolved (median / max)",
             _spread(resolved) + f" ({sum(r.stranded for r in self.restarts)} stranded)"),
            ("violations", str(len(self.violations))),
            ("wall time", f"{self.elapsed:.1f} s"),
        ]


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} s / {max(values):.2f} s"


@dataclass
class _Run:
    plan: CrashPlan
    network: Processes
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    settlements: list[HisSettlement] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def load_end(self) -> float:
        return self.started + self.plan.seconds

    @property
    def drain_end(self) -> float:
        return self.load_end + self.plan.drain

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)
        self.say(f"VIOLATION {text}")

    def post(self, client: httpx.Client, kind: str, path: str, body: Any) -> httpx.Response | None:
        """One request; None when the HIS must try again later (the cause is counted)."""
        try:
            response = client.post(path, json=body)
        except httpx.TransportError as exc:  # refused, reset, timed out: the node died
            cause = exc.__class__.__name__
        else:
            status = response.status_code
            if status < 500 and status != 202:
                return response
            try:
                answer = response.json()
                cause = f"{status} {answer.get('code') or answer.get('status')}"
            except ValueError:
                cause = f"{status} (not JSON)"
            if status != 202 and status != 503:  # 503: storage or peer down, retry later
                self.violation(f"POST {path}: HTTP {status} {response.text[:300]}")
        with self.lock:
            self.retries[f"{kind}: {cause}"] += 1
        return None

    def unresolved(self, node: str, among: Sequence[str] | None = None) -> list[str]:
        query = "SELECT settlement_id, home_region FROM visit_settlements WHERE status IN (?,?,?)"
        rows = read_rows(self.network.db(SHANGHAI), query, *UNRESOLVED)
        wanted = None if among is None else set(among)
        return [sid for sid, home in rows
                if node in (SHANGHAI, home) and (wanted is None or sid in wanted)]


@dataclass
class _Open:
    """A request the HIS still owes itself an answer to: settle or cancel of one id."""

    settlement: HisSettlement
    kind: str  # settle | cancel
    path: str
    body: Any
    due: float = 0.0
    delay: float = 0.05  # doubles up to 1 s after each failed try


class _His:
    """One hospital's HIS: a new settlement after another during the load, while the open
    ones (no final answer yet) are retried with the same id and content, with backoff."""

    def __init__(self, run: _Run, index: int, people: Sequence[tuple[str, str]],
                 hospital: str, key: str) -> None:
        self.run, self.index, self.people, self.hospital = run, index, people, hospital
        self.rng = random.Random(f"crash/{run.plan.seed}/his/{index}")
        self.client = httpx.Client(base_url=f"{run.network.urls[SHANGHAI]}/v1", timeout=15,
                                   headers={"Authorization": f"Bearer {key}"})
        self.open: list[_Open] = []
        self.waiting: list[tuple[str, str]] = []  # (home, visit id) registered, not settled
        self.count = 0  # settlement ids used

    def __call__(self) -> None:
        run = self.run
        with self.client:
            while (now := time.monotonic()) < run.drain_end:
                for task in [t for t in self.open if t.due <= now]:
                    self.attempt(task)
                if now < run.load_end:
                    self.next_patient()
                elif not self.open:
                    return
                else:
                    time.sleep(max(0.0, min(t.due for t in self.open) - time.monotonic()))

    def next_patient(self) -> None:
        """Register patients until the waiting room is full, then settle the one who waited
        longest.

        Visits are registered ahead (patients wait to be seen), so a home node's outage
        catches settlements, not only registrations."""
        while len(self.waiting) < WAITING_ROOM:
            home, id_number = self.rng.choice(self.people)
            visit = self.run.post(self.client, "register", "/visits",
                                  {"institution_code": self.hospital, "id_number": id_number})
            if visit is None:
                break
            if visit.status_code == 201:
                self.waiting.append((home, str(visit.json()["visit_id"])))
            else:
                self.run.violation(f"register at {self.hospital}: {visit.status_code}"
                                   f" {visit.text}")
                break
        if not self.waiting:
            time.sleep(self.rng.uniform(0.05, 0.15))  # the node is down: wait a little
            return
        home, visit_id = self.waiting.pop(0)
        bill = sample_bill(regional_catalogue(SHANGHAI), MedType.OUTPATIENT, self.rng,
                           OUTPATIENT_MEAN_FEN)
        lines = [{"code": b.code, "quantity": str(b.quantity), "unit_price": b.unit_price}
                 for b in bill]
        self.settle(home, {"visit_id": visit_id, "lines": lines})

    def settle(self, home: str, content: dict[str, Any]) -> None:
        self.count += 1
        s = HisSettlement(f"crash{self.run.plan.seed}-{self.index}-{self.count}", home)
        with self.run.lock:
            self.run.settlements.append(s)
        task = _Open(s, "settle", "/settlements", {"settlement_id": s.settlement_id, **content})
        self.open.append(task)
        self.attempt(task)

    def attempt(self, task: _Open) -> None:
        s = task.settlement
        s.requests += 1
        answer = self.run.post(self.client, task.kind, task.path, task.body)
        if answer is None:
            s.retries += 1
            task.due = time.monotonic() + task.delay * self.rng.uniform(0.5, 1.5)
            task.delay = min(task.delay * 2, 1.0)
            return
        self.open.remove(task)
        if task.kind == "cancel":
            if answer.status_code == 200 and answer.json()["status"] == "CANCELLED":
                s.cancel = "CANCELLED"
            else:
                self.run.violation(f"cancel {s.settlement_id}: {answer.status_code} {answer.text}")
            return
        _settle_answer(self.run, s, answer)
        if s.outcome == "SETTLED" and self.rng.random() < self.run.plan.cancel_share:
            s.cancel = "asked"
            cancel = _Open(s, "cancel", f"/settlements/{s.settlement_id}/cancel", None)
            self.open.append(cancel)
            self.attempt(cancel)
        elif s.outcome == "VOIDED":  # as the answer says: settle the same bill with a new id
            content = {k: v for k, v in task.body.items() if k != "settlement_id"}
            self.settle(s.home, content)


def _settle_answer(run: _Run, s: HisSettlement, answer: httpx.Response) -> None:
    body = answer.json()
    if answer.status_code == 200 and body["status"] == "SETTLED":
        s.outcome, s.split = "SETTLED", body["split"]
    elif answer.status_code == 409 and body["code"] == "SETTLEMENT_VOIDED":
        s.outcome = "VOIDED"  # recovery found the home never committed it: the id is spent
    elif 400 <= answer.status_code < 500 and body["code"] != "ID_REUSED":
        s.outcome, s.code = "REFUSED", body["code"]
    else:  # same id, same content: ID_REUSED or any other state is the protocol failing
        run.violation(f"settle {s.settlement_id}: {answer.status_code} {answer.text}")


def _chaos(run: _Run, node: str) -> None:
    """SIGKILL ``node`` at seeded random moments of the load, start it again each time."""
    rng = random.Random(f"crash/{run.plan.seed}/kill/{node}")
    moments = sorted(rng.uniform(0.5, 0.8 * run.plan.seconds) for _ in range(run.plan.kills))
    for moment in moments:
        time.sleep(max(0.0, run.started + moment - time.monotonic()))
        killed = time.monotonic()
        run.network.kill(node)
        with run.lock:
            run.kills[node] += 1
        time.sleep(rng.uniform(0.0, 1.0))  # down a while, as a real restart takes
        stranded = run.unresolved(node)
        launched = time.monotonic()
        try:
            run.network.start(node)
        except ProcessFailed as exc:
            last = "\n".join(str(exc).splitlines()[-6:])
            run.violation(f"{node} could not restart: ...\n{last}")
            return
        ready = time.monotonic() - launched
        resolved: float | None = None
        while time.monotonic() < run.drain_end:
            if not run.unresolved(node, stranded):
                resolved = time.monotonic() - launched
                break
            time.sleep(0.1)
        restart = Restart(node, launched - killed, ready, len(stranded), resolved)
        with run.lock:
            run.restarts.append(restart)
        run.say(f"{time.monotonic() - run.started:6.1f} s  {node} killed and back: ready"
                f" {ready:.2f} s, {len(stranded)} stranded resolved in "
                + (f"{resolved:.2f} s" if resolved is not None else "(not in time)"))


def _guarded(run: _Run, name: str, job: Callable[[], None]) -> None:
    """A thread's unexpected exception is a finding, not a quietly shorter run."""
    try:
        job()
    except Exception as exc:
        run.violation(f"{name} stopped: {exc.__class__.__name__}: {exc}")


def _people(plan: CrashPlan) -> list[tuple[str, str]]:
    """(home, ID number): employees with an account balance and a resident, per home."""
    rng = random.Random(f"crash/{plan.seed}/people")
    chosen: list[tuple[str, str]] = []
    for home in plan.homes:
        people = sample_people(home, population(home), SAMPLE_SEED)
        employees = [p for p in people if p.insutype == "310" and p.account_balance > 0]
        residents = [p for p in people if p.insutype == "390"]
        picked = rng.sample(employees, plan.people_per_home) + rng.sample(residents, 1)
        chosen += [(home, p.id_number) for p in picked]
    return chosen


def run_crash_scenario(
    data_dir: Path, plan: CrashPlan, say: Callable[[str], None] = print
) -> CrashReport:
    """Set up the network in ``data_dir``, run the load under kills, verify, stop everything."""
    begun = time.monotonic()
    network = init_network(data_dir, (SHANGHAI, *plan.homes))
    opening = {home: balances(network, home) for home in plan.homes}
    keys = network.keys()
    hospitals = [i.code for i in sample_institutions(SHANGHAI) if i.enabled and i.code in keys]
    random.Random(f"crash/{plan.seed}/hospitals").shuffle(hospitals)
    try:
        for name in (HUB, *plan.homes, SHANGHAI):
            network.start(name)
        run = _Run(plan, network, say)
        people = _people(plan)
        jobs: list[tuple[str, Callable[[], None]]] = [
            (f"HIS {i}", _His(run, i, people, hospitals[i], keys[hospitals[i]]))
            for i in range(plan.clients)
        ]
        jobs += [(f"killer of {node}", partial(_chaos, run, node))
                 for node in (SHANGHAI, *plan.homes)]
        threads = [threading.Thread(target=_guarded, args=(run, name, job)) for name, job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Every HIS has its final answers; whatever is left unresolved is waited for.
        deadline = time.monotonic() + 10
        while (left := run.unresolved(SHANGHAI)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            run.violation(f"{len(left)} settlements still unresolved at the visit node: "
                          f"{left[:10]}")
    finally:
        network.stop_all()
    report = CrashReport(plan, run.kills, run.settlements, run.restarts, run.retries,
                         run.violations)
    found, report.exactly_once = verify(network, plan.homes, report.settlements, opening)
    report.violations += found
    report.elapsed = time.monotonic() - begun
    return report


