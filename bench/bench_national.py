"""Benchmark: a whole outpatient visit through the national envelopes, beside the same visit
through tongban's own REST API, over real HTTP in the same run (hub + two node processes).

Each HIS client (a thread, one keep-alive ``http.client`` connection) repeats one visit of a
Jinhua employee at an enabled Shanghai hospital with a sample bill:
  national: 2201 register, 2203 visit info, 2204 fee details, 2206 pre-settle, 2207 settle;
  REST:     POST /v1/visits, /v1/visits/{id}/preview, /v1/settlements.
Both paths call the home node the same number of times (register, quote, commit); the
national one adds two local envelopes and its message log. Printed: visits/s, per-visit and
per-step latency, so the adapter's own cost shows. Nothing is asserted.

    .venv/bin/python bench/bench_national.py [--clients 1,4] [--visits-per-client 60]
"""

from __future__ import annotations

import argparse
import http.client as http_client
import json
import random
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.table import Table

from harness import Setup, add_common_arguments, run_bench, sigterm_as_interrupt
from machine import console, print_machine
from tongban.demo.network import population
from tongban.demo.sample_people import sample_people
from tongban.domain.policy import MedType
from workload import HOME, SEED, VISIT, bill_lines, percentile


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass
class PathResult:
    path: str
    clients: int
    visits: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    visit_ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall_s: float = 0.0


class Client:
    """One HIS connection; ``post`` returns the decoded answer and records the step's time."""

    def __init__(self, url: str, key: str, result: PathResult) -> None:
        target = urllib.parse.urlsplit(url)
        self.prefix = target.path.rstrip("/")
        self.http = http_client.HTTPConnection(target.hostname or "127.0.0.1", target.port,
                                               timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.result = result

    def post(self, step: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        t0 = time.perf_counter()
        self.http.request("POST", self.prefix + path, json.dumps(body), self.headers)
        response = self.http.getresponse()
        answer = json.loads(response.read())
        self.result.step_ms[step].append((time.perf_counter() - t0) * 1000)
        return response.status, answer


def rest_visit(c: Client, hospital: str, id_number: str, lines: list[dict[str, Any]]) -> str:
    status, visit = c.post("register", "/v1/visits", {"institution_code": hospital,
                                                       "id_number": id_number})
    if status != 201:
        return f"register {visit.get('code')}"
    status, preview = c.post("preview", f"/v1/visits/{visit['visit_id']}/preview",
                             {"lines": lines})
    if status != 200:
        return f"preview {preview.get('code')}"
    status, settled = c.post("settle", "/v1/settlements", {
        "settlement_id": uuid.uuid4().hex, "visit_id": visit["visit_id"], "lines": lines})
    return "" if status == 200 and settled["status"] == "SETTLED" else f"settle {status}"


class Envelopes:
    _sequence = iter(range(1, 10**9))
    _lock = threading.Lock()

    def __init__(self, hospital: str) -> None:
        self.hospital = hospital

    def __call__(self, infno: str, payload: dict[str, Any], insuplc: str = HOME
                 ) -> dict[str, Any]:
        with self._lock:
            n = next(self._sequence) % 10_000
        now = datetime.now()
        return {"infno": infno, "msgid": f"{self.hospital}{now:%Y%m%d%H%M%S}{n:04d}",
                "mdtrtarea_admvs": VISIT, "insuplc_admdvs": insuplc,
                "fixmedins_code": self.hospital, "inf_time": f"{now:%Y-%m-%d %H:%M:%S}",
                "input": payload}


def national_visit(c: Client, hospital: str, id_number: str, person: dict[str, str],
                   lines: list[dict[str, Any]]) -> str:
    env = Envelopes(hospital)
    cert = {"psn_no": person["psn_no"], "mdtrt_cert_type": "02", "mdtrt_cert_no": id_number}
    steps: list[tuple[str, Any]] = [("2201", lambda: {"data": {**cert,
                                                               "insutype": person["insutype"]}})]
    state: dict[str, str] = {}

    def fees() -> dict[str, Any]:
        rows = []
        for i, line in enumerate(lines):
            amount = int((Decimal(line["quantity"]) * line["unit_price"])
                         .quantize(Decimal(1), ROUND_HALF_UP))
            rows.append({"feedetl_sn": str(i + 1), "mdtrt_id": state["mdtrt_id"],
                         "psn_no": person["psn_no"], "chrg_bchno": "1",
                         "med_list_codg": line["code"], "cnt": line["quantity"],
                         "pric": yuan(line["unit_price"]), "det_item_fee_sumamt": yuan(amount)})
        state["total"] = yuan(sum(int(Decimal(r["det_item_fee_sumamt"]) * 100) for r in rows))
        return {"feedetail": rows}

    def settle_data() -> dict[str, Any]:
        return {"data": {**cert, "med_type": "11", "medfee_sumamt": state["total"],
                         "mdtrt_id": state["mdtrt_id"], "chrg_bchno": "1",
                         "insutype": person["insutype"], "acct_used_flag": "1"}}

    steps += [
        ("2203", lambda: {"mdtrtinfo": {"mdtrt_id": state["mdtrt_id"], "med_type": "11",
                                        "psn_no": person["psn_no"]}}),
        ("2204", fees), ("2206", settle_data), ("2207", settle_data),
    ]
    for infno, payload in steps:
        _status, answer = c.post(infno, "/v1/national", env(infno, payload()))
        if answer["infcode"] != 0:
            return f"{infno} {answer['err_msg'].split(':')[0]}"
        if infno == "2201":
            state["mdtrt_id"] = answer["output"]["data"]["mdtrt_id"]
    return ""


def run_path(setup: Setup, path: str, clients: int, per_client: int,
             people: list[tuple[str, dict[str, str]]]) -> PathResult:
    result = PathResult(path, clients)
    hospitals = sorted({(v.institution, v.api_key) for v in setup.visits})
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        rng = random.Random(f"bench-national/{path}/{clients}/{index}")
        hospital, key = hospitals[index % len(hospitals)]
        mine = PathResult(path, clients)
        c = Client(setup.visit_url, key, mine)
        barrier.wait()
        for _ in range(per_client):
            id_number, person = rng.choice(people)
            lines = bill_lines(MedType.OUTPATIENT, rng)
            t0 = time.perf_counter()
            failed = (national_visit(c, hospital, id_number, person, lines) if path == "national"
                      else rest_visit(c, hospital, id_number, lines))
            if failed:
                mine.failures[failed] += 1
            else:
                mine.visits += 1
                mine.visit_ms.append((time.perf_counter() - t0) * 1000)
        with lock:
            result.visits += mine.visits
            result.failures += mine.failures
            result.visit_ms += mine.visit_ms
            for step, values in mine.step_ms.items():
                result.step_ms[step] += values

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - start
    return result


def employees(setup: Setup, count: int) -> list[tuple[str, dict[str, str]]]:
    """Jinhua employees (outpatient settles without a filing), with the psn_no 1101 gives."""
    chosen = [p for p in sample_people(HOME, population(HOME), SEED) if p.insutype == "310"]
    random.Random(SEED).shuffle(chosen)
    hospital, key = setup.visits[0].institution, setup.visits[0].api_key
    c = Client(setup.visit_url, key, PathResult("1101", 1))
    env = Envelopes(hospital)
    out = []
    for person in chosen[:count]:
        _s, answer = c.post("1101", "/v1/national", env("1101", {"data": {
            "mdtrt_cert_type": "02", "mdtrt_cert_no": person.id_number}}, ""))
        if answer["infcode"] == 0:
            out.append((person.id_number, {"psn_no": answer["output"]["baseinfo"]["psn_no"],
                                           "insutype": "310"}))
    return out


def report(results: Sequence[PathResult]) -> None:
    table = Table(title=f"one outpatient visit over HTTP ({VISIT} visit node → {HOME} home)")
    for column in ("path", "clients", "visits", "failures", "visits/s", "visit p50 ms",
                   "visit p99 ms", "settle step p50 ms", "requests/visit"):
        table.add_column(column, justify="right")
    for r in results:
        settle = r.step_ms.get("2207" if r.path == "national" else "settle", [])
        requests = sum(len(v) for v in r.step_ms.values()) / max(1, r.visits + sum(
            r.failures.values()))
        table.add_row(r.path, str(r.clients), f"{r.visits:,}", f"{sum(r.failures.values()):,}",
                      f"{r.visits / r.wall_s:,.1f}" if r.wall_s else "-",
                      f"{percentile(r.visit_ms, 0.5):.1f}", f"{percentile(r.visit_ms, 0.99):.1f}",
                      f"{percentile(settle, 0.5):.1f}", f"{requests:.1f}")
    console.print(table)
    steps = Table(title="per step, p50 / p99 ms (clients = the largest level)")
    steps.add_column("path")
    steps.add_column("step")
    steps.add_column("p50 ms", justify="right")
    steps.add_column("p99 ms", justify="right")
    top = max(r.clients for r in results)
    for r in results:
        if r.clients != top:
            continue
        for step, values in r.step_ms.items():
            steps.add_row(r.path, step, f"{percentile(values, 0.5):.1f}",
                          f"{percentile(values, 0.99):.1f}")
    console.print(steps)
    for r in results:
        if r.failures:
            console.print(f"{r.path} x{r.clients} failures: " + ", ".join(
                f"{k} {n}" for k, n in r.failures.most_common()))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, clients=[1, 4], seconds=0)
    parser.add_argument("--visits-per-client", type=int, default=60)
    parser.add_argument("--people", type=int, default=200)
    args = parser.parse_args(argv)
    args.visits, args.warmup = min(args.visits, 24), 0
    cores = print_machine()
    console.print("the HIS clients (this process), both nodes and the hub share this machine.")

    def body(setup: Setup) -> None:
        people = employees(setup, args.people)
        console.print(f"{len(people)} Jinhua employees identified by 1101 (not measured)")
        results = []
        for clients in args.clients:
            for path in ("rest", "national"):  # interleaved, so drift hits both alike
                result = run_path(setup, path, clients, args.visits_per_client, people)
                console.print(f"  {path:>8} x{clients}: {result.visits} visits in "
                              f"{result.wall_s:.1f} s")
                results.append(result)
        report(results)

    try:
        with sigterm_as_interrupt():
            run_bench(args, cores, [], body)
    except KeyboardInterrupt:
        console.print("[red]interrupted: processes stopped[/]")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
