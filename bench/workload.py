"""The workload of the HTTP settle benchmarks: visits registered first, then levels of C HIS
clients settling sample bills over HTTP, with latency, outcomes and CPU read around each."""

from __future__ import annotations

import http.client as http_client
import json
import random
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from machine import console, machine_cpu
from tongban.demo.network import JINHUA, SHANGHAI, population
from tongban.demo.sample_bills import INPATIENT_MEAN_FEN, OUTPATIENT_MEAN_FEN, sample_bill
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.domain.policy import MedType

VISIT, HOME = SHANGHAI, JINHUA
SEED = 2026  # the seed `tongban network init` seeds the sample data with (its default)
# Durable write transactions per settlement, counted in service_layer/visit_side.py and
# home_side.py: (1) visit node: settlement PENDING + outbox row, one transaction
# (VisitSide.settle); (2) home node: inbox log + accumulators/account + its record, one
# transaction (HomeSide.commit); (3) visit node: SETTLED + outbox answered, one transaction
# (VisitSide._mark). Everything else on the path is a read transaction (no fsync). On
# PostgreSQL the benchmark also counts the transaction ids the levels consume, which checks it.
COMMITS_PER_SETTLEMENT = 3
Bills = dict[MedType, list[list[dict[str, Any]]]]
CpuReader = Callable[[], dict[str, float]]


@dataclass(frozen=True, slots=True)
class Visit:
    visit_id: str
    institution: str
    api_key: str
    med_type: MedType


def bill_lines(med_type: MedType, rng: random.Random) -> list[dict[str, Any]]:
    mean = OUTPATIENT_MEAN_FEN if med_type is MedType.OUTPATIENT else INPATIENT_MEAN_FEN
    return [
        {"code": line.code, "quantity": str(line.quantity), "unit_price": line.unit_price}
        for line in sample_bill(regional_catalogue(VISIT), med_type, rng, mean)
    ]


def register_visits(
    url: str, keys: dict[str, str], count: int, inpatient_share: float, seed: int
) -> tuple[list[Visit], Counter[str]]:
    """``count`` visits of Jinhua insured at enabled Shanghai institutions (8 threads).

    Visits that settlement would refuse (residents without a filing: FILING_REQUIRED) are left
    out, so that every measured settlement is expected to succeed; more people are registered
    until ``count`` are kept. Big hospitals draw more patients (weight level²).
    """
    rng = random.Random(f"bench-http/{seed}")
    people = list(sample_people(HOME, population(HOME), SEED))
    rng.shuffle(people)
    hospitals = [i for i in sample_institutions(VISIT) if i.enabled]
    visits: list[Visit] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def one(item: tuple[str, str, MedType]) -> None:
        id_number, code, med = item
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, timeout=30)
        response = client.post(
            "/v1/visits",
            json={"institution_code": code, "id_number": id_number, "med_type": med.value},
            headers={"Authorization": f"Bearer {keys[code]}"},
        )
        with lock:
            if response.status_code != 201:
                outcomes[f"{response.status_code} {response.json().get('code')}"] += 1
                return
            body = response.json()
            if body["insutype"] != "310" and not body["filed"]:
                outcomes["left out (resident without filing)"] += 1
                return
            outcomes["kept"] += 1
            visits.append(Visit(body["visit_id"], code, keys[code], med))

    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(visits) < count and people:
            batch = []
            for _ in range(min(len(people), max(8, (count - len(visits)) * 3 // 2))):
                person = people.pop()
                hospital = rng.choices(hospitals, weights=[i.level ** 2 for i in hospitals])[0]
                med = MedType.INPATIENT if rng.random() < inpatient_share else MedType.OUTPATIENT
                batch.append((person.id_number, hospital.code, med))
            list(pool.map(one, batch))
    visits.sort(key=lambda v: v.visit_id)  # thread order must not change the workload
    return visits[:count], outcomes


# --- one level: C HIS clients ------------------------------------------------------------------
@dataclass
class LevelResult:
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0
    machine_total_s: float = 0.0

    @property
    def settled(self) -> int:
        return self.outcomes.get("200 SETTLED", 0)

    @property
    def errors(self) -> int:
        return sum(self.outcomes.values()) - self.settled

    @property
    def rate(self) -> float:
        return self.settled / self.wall_s if self.wall_s else 0.0


def run_level(
    url: str,
    visits: Sequence[Visit],
    bills: Bills,
    clients: int,
    seconds: float | None,
    count: int | None,
    cpu: CpuReader,
    seed: int,
    stop: threading.Event,
) -> LevelResult:
    """C client threads settling until the deadline (or ``count`` each); CPU read around it."""
    result = LevelResult(clients)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline: list[float] = [0.0]

    def client(index: int) -> None:
        rng = random.Random(f"bench-http/{seed}/{clients}/{index}")
        latencies: list[float] = []
        outcomes: Counter[str] = Counter()
        timer = time.perf_counter
        # http.client, not httpx: a HIS runs on its own machine, so the client here should take
        # as little of the shared CPU as it can (httpx costs ~4x the CPU per request).
        target = urllib.parse.urlsplit(url)
        http = http_client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        barrier.wait()
        done = 0
        while not stop.is_set():
            if count is not None and done >= count:
                break
            if count is None and timer() >= deadline[0]:
                break
            visit = rng.choice(visits)
            body = json.dumps({
                "settlement_id": uuid.uuid4().hex,
                "visit_id": visit.visit_id,
                "lines": rng.choice(bills[visit.med_type]),
                "use_account": True,
            })
            headers = {"Authorization": f"Bearer {visit.api_key}",
                       "Content-Type": "application/json"}
            t0 = timer()
            try:
                http.request("POST", "/v1/settlements", body, headers)
                response = http.getresponse()
                answer = response.read()
                latencies.append((timer() - t0) * 1000)
                outcomes[outcome(response.status, answer)] += 1
            except (OSError, http_client.HTTPException) as exc:
                latencies.append((timer() - t0) * 1000)
                outcomes[f"exception {exc.__class__.__name__}"] += 1
                http.close()  # reconnects on the next request
            done += 1
        http.close()
        with lock:
            result.latencies_ms += latencies
            result.outcomes += outcomes

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = cpu()
    busy0, total0 = machine_cpu()
    start = time.perf_counter()
    deadline[0] = start + (seconds or 0)
    barrier.wait()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    result.wall_s = time.perf_counter() - start
    busy1, total1 = machine_cpu()
    result.cpu_s = {name: value - cpu_before[name] for name, value in cpu().items()}
    result.machine_busy_s, result.machine_total_s = busy1 - busy0, total1 - total0
    return result


def outcome(status: int, answer: bytes) -> str:
    try:
        body = json.loads(answer)
    except ValueError:
        return f"{status} (not JSON)"
    if status == 200:
        return f"200 {body.get('status')}"
    return f"{status} {body.get('code') or body.get('status')}"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def error_summary(results: Sequence[LevelResult]) -> None:
    errors: Counter[str] = Counter()
    for r in results:
        errors += Counter({k: v for k, v in r.outcomes.items() if k != "200 SETTLED"})
    if errors:
        console.print("[red]errors by status/code:[/] "
                      + ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    else:
        console.print("errors: none, every response was 200 SETTLED.")
