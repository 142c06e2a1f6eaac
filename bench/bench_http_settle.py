"""Benchmark: cross-region settlement over real HTTP, three processes, SQLite on this disk.

A Shanghai (310000) visit node, a Jinhua (330700) home node and the hub run as separate
``tongban`` processes, each on its own SQLite database in a fresh temporary data directory
made by ``tongban network init --sample-data``. Visits of Jinhua insured at enabled Shanghai
institutions are registered first (not measured); then, for each client count C, C HIS
clients (threads, one keep-alive ``httpx.Client`` each) settle sample bills with fresh
settlement ids, and the per-request latency, throughput and the CPU time of every process are
printed. Side by side, in the same run and the same directory: how many durable SQLite
commits per second this disk does, divided by the commits one settlement needs.

The same on PostgreSQL, against a pgbench ceiling: bench_http_settle_pg.py. Nothing is
asserted; see bench/README.md for how to read the figures.

    .venv/bin/python bench/bench_http_settle.py [--clients 1,4,16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from harness import Setup, add_common_arguments, run_bench, sigterm_as_interrupt
from machine import console, print_cpu_table, print_machine
from workload import COMMITS_PER_SETTLEMENT, HOME, VISIT, LevelResult, error_summary, percentile


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


def levels(setup: Setup) -> None:
    args = setup.args
    ceilings = [sqlite_commits_per_second(setup.data_dir, args.ceiling_seconds)]
    results = []
    for clients in args.clients:
        result = setup.level(clients)
        results.append(result)
        console.print(f"  {clients:>3} clients: {result.settled} settled, {result.errors} errors "
                      f"in {result.wall_s:.1f} s")
    ceilings.append(sqlite_commits_per_second(setup.data_dir, args.ceiling_seconds))
    report(args, results, ceilings, setup.cores)


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
    for r in results:
        speed.add_row(
            str(r.clients), f"{r.settled:,}", f"{r.errors:,}", f"{r.rate:,.1f}",
            f"{percentile(r.latencies_ms, 0.50):.1f}", f"{percentile(r.latencies_ms, 0.99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}", f"{r.rate / ceiling:.1%}",
        )
    console.print(speed)
    error_summary(results)
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
    print_cpu_table(results, cores)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, clients=[1, 4, 16], seconds=10.0)
    parser.add_argument("--ceiling-seconds", type=float, default=2.0,
                        help="length of each SQLite commit loop (one before, one after)")
    args = parser.parse_args(argv)
    cores = print_machine()
    console.print("the HIS clients (this process), both nodes and the hub share this machine.")
    try:
        with sigterm_as_interrupt():
            run_bench(args, cores, [], levels)
    except KeyboardInterrupt:
        console.print("[red]interrupted: processes stopped[/]")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
