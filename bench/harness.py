"""Shared machinery of the HTTP settle benchmarks: the network of processes and the run.

``bench_http_settle.py`` (SQLite) and ``bench_http_settle_pg.py`` (PostgreSQL) differ only in
where the nodes' databases live and in the reference ceiling they are compared with; both run
the same network of processes (``run_bench``) and the same HIS clients (``workload``); CPU
and machine figures come from ``machine``, ``--profile`` from ``profiling``.
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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from machine import console, postgres_cpu, process_cpu
from tongban.demo.network import CREDENTIALS
from tongban.domain.policy import MedType
from workload import (
    HOME,
    VISIT,
    Bills,
    CpuReader,
    LevelResult,
    Visit,
    bill_lines,
    register_visits,
    run_level,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so the same clean-up runs as on Ctrl-C."""

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    """Stop every started server on the way out: normal end, exception or interrupt."""
    try:
        yield
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                console.print(f"[red]could not stop {server.name}: {exc}[/]")



# --- the whole run: data dir, processes, registration, warm-up ------------------------------
@dataclass
class Setup:
    """A running network, its registered visits and the bills the clients send."""

    args: argparse.Namespace
    data_dir: Path
    servers: list[Server]
    visits: list[Visit]
    bills: Bills
    pids: dict[str, int]
    cpu: CpuReader
    stop: threading.Event
    cores: int

    @property
    def visit_url(self) -> str:
        return self.servers[1].url

    def level(self, clients: int, seed_offset: int = 0, count: int | None = None) -> LevelResult:
        seconds = None if (count or self.args.count) else self.args.seconds
        return run_level(self.visit_url, self.visits, self.bills, clients, seconds,
                         count or self.args.count, self.cpu, self.args.seed + seed_offset,
                         self.stop)


def run_bench(
    args: argparse.Namespace,
    cores: int,
    init_extra: Sequence[str],
    body: Callable[[Setup], None],
    with_postgres_cpu: bool = False,
) -> None:
    """Make a data dir, ``network init`` (plus ``init_extra``), start hub and nodes, register
    visits, warm up, then ``body(setup)``; everything stops and is deleted on the way out."""
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
                setup = _start(args, tongban, data_dir, servers, stop, cores, init_extra,
                               with_postgres_cpu)
                body(setup)
                if args.profile:
                    from profiling import profile_level

                    profile_level(setup)
                for server in servers:
                    if server.popen is not None and server.popen.poll() is not None:
                        console.print(f"[red]{server.name} exited during the run:[/]\n"
                                      + server.tail())
            except BaseException:
                stop.set()  # client threads end before the servers go
                raise
    finally:
        if args.keep:
            console.print(f"data dir and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _start(
    args: argparse.Namespace,
    tongban: Path,
    data_dir: Path,
    servers: list[Server],
    stop: threading.Event,
    cores: int,
    init_extra: Sequence[str],
    with_postgres_cpu: bool,
) -> Setup:
    hub, visit_node, home_node = servers
    started = time.perf_counter()
    init = subprocess.run(
        [str(tongban), "network", "init", "--data-dir", str(data_dir), "--hub", hub.url,
         "--node", f"{VISIT}={visit_node.url}", "--node", f"{HOME}={home_node.url}",
         *init_extra, "--sample-data"],
        capture_output=True, text=True,
    )
    if init.returncode != 0:
        raise RuntimeError(f"network init failed:\n{init.stdout}\n{init.stderr}")
    hub.start()
    hub.wait_healthy()  # the nodes fetch the directory (with the nodes' URLs) at start-up
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

    def cpu() -> dict[str, float]:
        out = {name: process_cpu(pid) for name, pid in pids.items()}
        if with_postgres_cpu:
            out["postgres"] = postgres_cpu() or float("nan")
        return out

    setup = Setup(args, data_dir, servers, visits, bills, pids, cpu, stop, cores)
    if args.warmup:
        warm = setup.level(1, seed_offset=1, count=args.warmup)
        console.print(f"warm-up: {sum(warm.outcomes.values())} settlements (not measured): "
                      + ", ".join(f"{k} {n}" for k, n in sorted(warm.outcomes.items())))
    return setup


# --- command line ------------------------------------------------------------------------------
def parse_clients(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,4,16") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("client counts are positive integers")
    return levels


def add_common_arguments(
    parser: argparse.ArgumentParser, clients: list[int], seconds: float
) -> None:
    parser.add_argument("--clients", type=parse_clients, default=clients,
                        help="concurrent HIS clients per level, e.g. "
                             + ",".join(map(str, clients)))
    parser.add_argument("--seconds", type=float, default=seconds,
                        help="measured seconds per level")
    parser.add_argument("--count", type=int, default=None,
                        help="settlements per client per level (instead of --seconds)")
    parser.add_argument("--visits", type=int, default=240, help="visits registered beforehand")
    parser.add_argument("--inpatient-share", type=float, default=0.05,
                        help="share of visits that are admissions (bigger bills)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured settlements first")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to make the temporary data dir")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, one more (unmeasured) level with py-spy on both nodes")
    parser.add_argument("--profile-clients", type=int, default=4)
    parser.add_argument("--profile-top", type=int, default=10)

