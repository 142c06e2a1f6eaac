"""Benchmark: cross-region settlement over real HTTP, three processes, SQLite on this disk.

A Shanghai (310000) visit node, a Jinhua (330700) home node and the hub run as separate
``tongban`` processes, each on its own SQLite database in a fresh temporary data directory
made by ``tongban network init --sample-data``. Visits of Jinhua insured at enabled Shanghai
institutions are registered first (not measured); then, for each client count C, C HIS
clients (threads, one keep-alive ``httpx.Client`` each) settle sample bills with fresh
settlement ids, and the per-request latency, throughput and the CPU time of every process are
printed. Side by side, in the same run and the same directory: how many durable SQLite
commits per second this disk does, divided by the commits one settlement needs.

Nothing is asserted; see bench/README.md for how to read the figures.

    .venv/bin/python bench/bench_http_settle.py [--clients 1,4,16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from tongban.demo.network import CREDENTIALS, JINHUA, SHANGHAI, population
from tongban.demo.sample_bills import INPATIENT_MEAN_FEN, OUTPATIENT_MEAN_FEN, sample_bill
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.domain.policy import MedType

console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)

VISIT, HOME = SHANGHAI, JINHUA
SEED = 2026  # the seed `tongban network init` seeds the sample data with (its default)
# Durable write transactions per settlement, counted in service_layer/visit_side.py and
# home_side.py: (1) visit node: settlement PENDING + outbox row, one transaction
# (VisitSide.settle); (2) home node: inbox log + accumulators/account + its record, one
# transaction (HomeSide.commit); (3) visit node: SETTLED + outbox answered, one transaction
# (VisitSide._mark). Everything else on the path is a read transaction (no fsync).
COMMITS_PER_SETTLEMENT = 3
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- machine and processes -----------------------------------------------------------------
def cpu_model() -> str:
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return float("nan"), float("nan")
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches only the benchmark, which stops us
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n"
                                   + self.tail())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {timeout:.0f} s:\n" + self.tail())

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def running(servers: Sequence[Server]) -> Iterator[None]:
    """Stop every started server on the way out: normal end, exception, Ctrl-C or SIGTERM."""

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                console.print(f"[red]could not stop {server.name}: {exc}[/]")
        signal.signal(signal.SIGTERM, previous)


# --- the durable-commit ceiling ------------------------------------------------------------
def sqlite_commits_per_second(directory: Path, seconds: float) -> float:
    """One small insert per transaction, WAL + synchronous=FULL, as the nodes use SQLite."""
    path = directory / "ceiling.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        payload = "x" * 200
        for _ in range(20):  # warm up the file
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (payload,))
            conn.execute("COMMIT")
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- workload --------------------------------------------------------------------------------
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


def run_level(
    url: str,
    visits: Sequence[Visit],
    bills: dict[MedType, list[list[dict[str, Any]]]],
    clients: int,
    seconds: float | None,
    count: int | None,
    pids: dict[str, int],
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
        with httpx.Client(base_url=url, timeout=60) as http:
            barrier.wait()
            done = 0
            while not stop.is_set():
                if count is not None and done >= count:
                    break
                if count is None and timer() >= deadline[0]:
                    break
                visit = rng.choice(visits)
                body = {
                    "settlement_id": uuid.uuid4().hex,
                    "visit_id": visit.visit_id,
                    "lines": rng.choice(bills[visit.med_type]),
                    "use_account": True,
                }
                headers = {"Authorization": f"Bearer {visit.api_key}"}
                t0 = timer()
                try:
                    response = http.post("/v1/settlements", json=body, headers=headers)
                    latencies.append((timer() - t0) * 1000)
                    outcomes[outcome(response)] += 1
                except httpx.HTTPError as exc:
                    latencies.append((timer() - t0) * 1000)
                    outcomes[f"exception {exc.__class__.__name__}"] += 1
                done += 1
        with lock:
            result.latencies_ms += latencies
            result.outcomes += outcomes

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = {name: process_cpu(pid) for name, pid in pids.items()}
    busy0, total0 = machine_cpu()
    start = time.perf_counter()
    deadline[0] = start + (seconds or 0)
    barrier.wait()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    result.wall_s = time.perf_counter() - start
    busy1, total1 = machine_cpu()
    result.cpu_s = {name: process_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
    result.machine_busy_s, result.machine_total_s = busy1 - busy0, total1 - total0
    return result


def outcome(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} (not JSON)"
    if response.status_code == 200:
        return f"200 {body.get('status')}"
    return f"{response.status_code} {body.get('code') or body.get('status')}"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- optional: where the CPU goes (py-spy) --------------------------------------------------
# py-spy names files relative to their sys.path entry: "sqlalchemy/engine/base.py", "json/...",
# and tongban's own as "service_layer/visit_side.py" or "tongban/service_layer/visit_side.py"
# (depending on how the package is installed): both forms are matched.
TONGBAN_PARTS = tuple(
    f"({prefix}{p.name}{'/' if p.is_dir() else ':'}"
    for p in Path(next(iter(__import__("tongban").__path__))).iterdir()
    if not p.name.startswith("_") and (p.is_dir() or p.suffix == ".py")
    for prefix in ("", "tongban/")
)
# Each sample goes to the bucket of the innermost frame that matches one (leaf first).
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLAlchemy + sqlite3 (incl. the C calls)", ("(sqlalchemy/", "(sqlite3/")),
    ("Ed25519 sign/verify", ("(cryptography/", "adapters/signing.py:")),
    ("JSON (incl. canonical JSON)", ("(json/", "(canonical.py:", "(tongban/canonical.py:")),
    ("pydantic", ("(pydantic/", "(pydantic_core/")),
    ("FastAPI / Starlette", ("(fastapi/", "(starlette/")),
    ("httpx (node→node call)", ("(httpx/", "(httpcore/")),
    ("uvicorn / h11 / asyncio (HTTP server)", ("(uvicorn/", "(h11/", "(asyncio/",
                                               "(selectors.py:")),
    ("tongban's own code (+ stdlib it calls)", TONGBAN_PARTS),
    ("thread-pool hand-off (anyio, threading)", ("(anyio/", "(concurrent/", "(threading.py:",
                                                 "(queue.py:")),
)
OUTER_FRAMES = ("entrypoints/cli.py:", "entrypoints/process_cli.py:", "(tongban:")


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return os.environ.get("PY_SPY") or shutil.which("py-spy") or (
        str(beside) if beside.exists() else None)


def bucket_of(stack: Sequence[str]) -> str:
    for frame in reversed(stack):
        for name, needles in BUCKETS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarise_profile(path: Path, title: str, top: int) -> None:
    """Print a py-spy ``raw`` (collapsed stacks) file: buckets, tongban functions, hot spots."""
    buckets: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        buckets[bucket_of(stack)] += count
        own[stack[-1]] += count
        functions = {frame.rsplit(":", 1)[0] + ")" for frame in stack
                     if any(part in frame for part in TONGBAN_PARTS)
                     and not any(outer in frame for outer in OUTER_FRAMES)}
        for function in functions:
            inclusive[function] += count
    if not total:
        console.print(f"{title}: no samples")
        return
    table = Table(title=f"{title}: {total:,} samples holding the GIL")
    table.add_column("where (innermost frame that matches)")
    table.add_column("share", justify="right")
    for name, count in buckets.most_common():
        table.add_row(name, f"{count / total:.0%}")
    console.print(table)
    mine = Table(title=f"{title}: tongban functions, including what they call (top {top})")
    mine.add_column("function (file)")
    mine.add_column("share", justify="right")
    for name, count in inclusive.most_common(top):
        mine.add_row(name, f"{count / total:.0%}")
    console.print(mine)
    hot = Table(title=f"{title}: hottest lines, own samples (top {top})")
    hot.add_column("function (file:line)")
    hot.add_column("share", justify="right")
    for name, count in own.most_common(top):
        hot.add_row(name, f"{count / total:.1%}")
    console.print(hot)


def profile_level(
    args: argparse.Namespace,
    url: str,
    visits: Sequence[Visit],
    bills: dict[MedType, list[list[dict[str, Any]]]],
    pids: dict[str, int],
    out: Path,
    stop: threading.Event,
) -> None:
    """An extra, unmeasured level with py-spy attached to both nodes; prints where CPU goes."""
    spy = find_py_spy()
    if spy is None:
        console.print("[yellow]--profile: py-spy not found (pip install py-spy, or set "
                      "PY_SPY=/path/to/py-spy); skipped[/]")
        return
    out.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for name in ("visit", "home"):
        recorders[name] = subprocess.Popen(
            # --gil: only samples of the thread holding the GIL, i.e. Python doing work; waits
            # in fsync, epoll or SQLite's busy handler release the GIL and are left out.
            [spy, "record", "--pid", str(pids[name]), "--format", "raw", "--rate", "250",
             "--gil", "--nonblocking", "--output", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=(out / f"py-spy-{name}.log").open("wb"),
        )
    try:
        time.sleep(1.0)  # let py-spy attach
        result = run_level(url, visits, bills, args.profile_clients, args.seconds, None, pids,
                           args.seed + 2, stop)
        console.print(f"profile level ({args.profile_clients} clients, py-spy attached, not "
                      f"measured): {result.settled} settled, {result.errors} errors")
    finally:
        for recorder in recorders.values():
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for recorder in recorders.values():
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
    for name, label in (("visit", f"visit node {VISIT}"), ("home", f"home node {HOME}")):
        path = out / f"{name}.txt"
        if path.exists():
            summarise_profile(path, label, args.profile_top)
        else:
            console.print(f"{label}: py-spy wrote no profile (see {out}/py-spy-{name}.log)")
    console.print(f"collapsed stacks (flamegraph.pl / speedscope input) in {out}"
                  + ("" if args.keep else " (deleted at the end: add --keep)"))


# --- main ----------------------------------------------------------------------------------
def parse_clients(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,4,16") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("client counts are positive integers")
    return levels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=parse_clients, default=[1, 4, 16],
                        help="concurrent HIS clients per level, e.g. 1,4,16")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--count", type=int, default=None,
                        help="settlements per client per level (instead of --seconds)")
    parser.add_argument("--visits", type=int, default=240, help="visits registered beforehand")
    parser.add_argument("--inpatient-share", type=float, default=0.05,
                        help="share of visits that are admissions (bigger bills)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured settlements first")
    parser.add_argument("--ceiling-seconds", type=float, default=2.0,
                        help="length of each SQLite commit loop (one before, one after)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to make the temporary data dir (its disk is measured)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, one more (unmeasured) level with py-spy on both nodes")
    parser.add_argument("--profile-clients", type=int, default=4)
    parser.add_argument("--profile-top", type=int, default=10)
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    load = os.getloadavg()
    console.print(
        f"machine: {cores} cores (os.cpu_count), {cpu_model()}, Python {sys.version.split()[0]}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    console.print("the HIS clients (this process), both nodes and the hub share this machine.")
    if load[0] > 0.5 * cores:
        console.print(f"[yellow]note: the machine is already busy (load {load[0]:.1f} on "
                      f"{cores} cores): other processes take CPU from the benchmark[/]")

    tongban = Path(sys.executable).parent / "tongban"
    if not tongban.exists():
        sys.exit(f"{tongban} not found: install the project into this virtualenv first")
    data_dir = Path(tempfile.mkdtemp(prefix="tongban-bench-", dir=args.workdir))
    hub_url, visit_url, home_url = (f"http://127.0.0.1:{free_port()}" for _ in range(3))
    servers = [
        Server("hub", hub_url, [str(tongban), "hub", "--data-dir", str(data_dir),
                                "--listen", hub_url.removeprefix("http://")],
               data_dir / "hub.log"),
        Server(f"visit node {VISIT}", visit_url,
               [str(tongban), "node", "--data-dir", str(data_dir), "--region", VISIT,
                "--listen", visit_url.removeprefix("http://")], data_dir / f"node-{VISIT}.log"),
        Server(f"home node {HOME}", home_url,
               [str(tongban), "node", "--data-dir", str(data_dir), "--region", HOME,
                "--listen", home_url.removeprefix("http://")], data_dir / f"node-{HOME}.log"),
    ]
    stop = threading.Event()
    try:
        with running(servers):
            try:
                run(args, tongban, data_dir, servers, stop, cores)
            except KeyboardInterrupt:
                stop.set()  # client threads end before the servers go
                raise
    except KeyboardInterrupt:
        console.print("[red]interrupted: processes stopped[/]")
        raise SystemExit(130) from None
    finally:
        if args.keep:
            console.print(f"data dir and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    tongban: Path,
    data_dir: Path,
    servers: list[Server],
    stop: threading.Event,
    cores: int,
) -> None:
    hub, visit_node, home_node = servers
    started = time.perf_counter()
    init = subprocess.run(
        [str(tongban), "network", "init", "--data-dir", str(data_dir), "--hub", hub.url,
         "--node", f"{VISIT}={visit_node.url}", "--node", f"{HOME}={home_node.url}",
         "--sample-data"],
        capture_output=True, text=True,
    )
    if init.returncode != 0:
        raise RuntimeError(f"network init failed:\n{init.stdout}\n{init.stderr}")
    hub.start()
    hub.wait_healthy()
    visit_node.start()
    home_node.start()
    visit_node.wait_healthy()
    home_node.wait_healthy()
    console.print(f"data dir {data_dir}: network init + start of hub and both nodes in "
                  f"{time.perf_counter() - started:.1f} s")

    keys: dict[str, str] = json.loads((data_dir / CREDENTIALS).read_text())
    started = time.perf_counter()
    visits, outcomes = register_visits(visit_node.url, keys, args.visits, args.inpatient_share,
                                       args.seed)
    inpatient = sum(v.med_type is MedType.INPATIENT for v in visits)
    console.print(
        f"registered {len(visits)} visits ({inpatient} admissions) of {HOME} insured at "
        f"{len({v.institution for v in visits})} enabled {VISIT} institutions in "
        f"{time.perf_counter() - started:.1f} s (not measured): "
        + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()))
    )
    if not visits:
        raise RuntimeError("no visit could be registered")

    rng = random.Random(f"bench-http-bills/{args.seed}")
    bills = {
        MedType.OUTPATIENT: [bill_lines(MedType.OUTPATIENT, rng) for _ in range(400)],
        MedType.INPATIENT: [bill_lines(MedType.INPATIENT, rng) for _ in range(100)],
    }
    pids = {"visit": visit_node.pid, "home": home_node.pid, "hub": hub.pid,
            "client": os.getpid()}
    if args.warmup:
        warm = run_level(visit_node.url, visits, bills, 1, None, args.warmup, pids,
                         args.seed + 1, stop)
        console.print(f"warm-up: {sum(warm.outcomes.values())} settlements (not measured): "
                      + ", ".join(f"{k} {n}" for k, n in sorted(warm.outcomes.items())))

    ceilings = [sqlite_commits_per_second(data_dir, args.ceiling_seconds)]
    results = []
    for clients in args.clients:
        result = run_level(visit_node.url, visits, bills, clients,
                           None if args.count else args.seconds, args.count, pids, args.seed,
                           stop)
        results.append(result)
        console.print(f"  {clients:>3} clients: {result.settled} settled, {result.errors} errors "
                      f"in {result.wall_s:.1f} s")
    ceilings.append(sqlite_commits_per_second(data_dir, args.ceiling_seconds))
    report(args, results, ceilings, cores)
    if args.profile:
        profile_level(args, visit_node.url, visits, bills, pids, data_dir / "profile", stop)
    for server in servers:
        if server.popen is not None and server.popen.poll() is not None:
            console.print(f"[red]{server.name} exited during the run:[/]\n{server.tail()}")


def report(
    args: argparse.Namespace, results: list[LevelResult], ceilings: list[float], cores: int
) -> None:
    ceiling_commits = max(ceilings)
    ceiling = ceiling_commits / COMMITS_PER_SETTLEMENT
    length = f"{args.count} per client" if args.count else f"{args.seconds:g} s per level"
    speed = Table(title=f"cross-region settle over HTTP ({VISIT} visit node → {HOME} home "
                        f"node, SQLite), {length}")
    for column in ("clients", "settlements", "errors", "settlements/s", "p50 ms", "p99 ms",
                   "max ms", "of disk ceiling"):
        speed.add_column(column, justify="right")
    cpu = Table(title="CPU per settlement (ms of utime+stime) and what it allows")
    for column in ("clients", "visit node", "home node", "hub", "client", "all four",
                   "CPU-bound max/s", "others' CPU"):
        cpu.add_column(column, justify="right")
    for r in results:
        n = r.settled
        rate = n / r.wall_s if r.wall_s else 0.0
        per = {k: (v / n * 1000 if n else float("nan")) for k, v in r.cpu_s.items()}
        ours = sum(r.cpu_s.values())
        others = max(0.0, r.machine_busy_s - ours) / r.machine_total_s if r.machine_total_s else 0
        speed.add_row(
            str(r.clients), f"{n:,}", f"{r.errors:,}", f"{rate:,.1f}",
            f"{percentile(r.latencies_ms, 0.50):.1f}", f"{percentile(r.latencies_ms, 0.99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}", f"{rate / ceiling:.1%}",
        )
        cpu.add_row(
            str(r.clients), f"{per['visit']:.2f}", f"{per['home']:.2f}", f"{per['hub']:.3f}",
            f"{per['client']:.2f}", f"{ours / n * 1000 if n else float('nan'):.2f}",
            f"{cores * n / ours if ours else float('nan'):,.0f}", f"{others:.0%}",
        )
    console.print(speed)
    errors: Counter[str] = Counter()
    for r in results:
        errors += Counter({k: v for k, v in r.outcomes.items() if k != "200 SETTLED"})
    if errors:
        console.print("[red]errors by status/code:[/] "
                      + ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    else:
        console.print("errors: none, every response was 200 SETTLED.")
    console.print(
        f"disk ceiling, same directory, same run: SQLite WAL + synchronous=FULL, one small "
        f"insert per transaction, one thread: {ceilings[0]:,.0f} commits/s before the levels, "
        f"{ceilings[1]:,.0f} after; best {ceiling_commits:,.0f} ÷ {COMMITS_PER_SETTLEMENT} "
        f"commits per settlement = {ceiling:,.0f} settlements/s (\"of disk ceiling\" above)."
    )
    console.print(
        f"{COMMITS_PER_SETTLEMENT} write transactions per settlement, counted in "
        "service_layer/visit_side.py (settle: PENDING + outbox row; _mark: SETTLED + outbox "
        "answered) and home_side.py (commit: inbox + accumulators + account + record); every "
        "other database access on the path is a read transaction (no fsync)."
    )
    console.print(cpu)
    console.print(
        f"CPU-bound max/s = {cores} cores ÷ CPU of all four processes per settlement: the "
        f"rate if CPU were the only limit. others' CPU = machine CPU used outside these four "
        f"processes during the level, as a share of all {cores} cores. The client, both nodes "
        f"and the hub share this machine's {cores} cores. Latency percentiles cover every "
        f"request of the level."
    )


if __name__ == "__main__":
    main()
