"""Benchmark: kill -9 of the visit and home nodes under HIS load, for longer than the test.

The scenario of tests/e2e/test_crash_under_load.py (crash_scenario.py, checked by
crash_verify.py): a hub, Shanghai (visit) and home regions as `tongban` processes on SQLite,
HIS threads settling and cancelling with retries of the same id, every node SIGKILLed
``--kills`` times at seeded random moments of ``--seconds`` and started again. Prints what was
acknowledged, what was found on both sides, the violations (each named) and how long each node
took to come back and to resolve what its crash had left unresolved. Nothing is asserted;
exit status 1 when a violation was found, so a long run can be scripted.

    .venv/bin/python bench/bench_crash.py [--seconds 150] [--kills 8] [--clients 6] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from rich.table import Table

from crash_scenario import SEED_ENV, CrashPlan, CrashReport, run_crash_scenario
from machine import console, print_machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0,
                        help="load duration: new settlements start during this long")
    parser.add_argument("--kills", type=int, default=8, help="SIGKILLs of each node")
    parser.add_argument("--clients", type=int, default=6, help="HIS threads, one hospital each")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"seed of kills, people and bills (default: ${SEED_ENV}, else random)")
    parser.add_argument("--homes", default=",".join(CrashPlan.homes),
                        help="home regions, comma-separated")
    parser.add_argument("--workdir", type=Path, default=None, help="where the data dir goes")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the logs")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(
        os.environ.get(SEED_ENV) or random.SystemRandom().randrange(1_000_000)
    )
    plan = CrashPlan(seconds=args.seconds, kills=args.kills, clients=args.clients, seed=seed,
                     homes=tuple(args.homes.split(",")))
    print_machine()
    console.print(f"seed {seed}: {plan.clients} HIS clients for {plan.seconds:.0f} s,"
                  f" {plan.kills} kills of each of 310000, {', '.join(plan.homes)}")
    workdir = Path(tempfile.mkdtemp(prefix="tongban-crash-", dir=args.workdir))
    try:
        report = run_crash_scenario(workdir / "network", plan, say=console.print)
    finally:
        if args.keep:
            console.print(f"data dir and process logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    return 1 if report.violations else 0


def print_report(report: CrashReport) -> None:
    summary = Table(title="kill -9 under load")
    summary.add_column("figure")
    summary.add_column("value")
    for label, value in report.figures():
        summary.add_row(label, value)
    console.print(summary)
    restarts = Table(title="recovery after each restart, per node (median / max)")
    for column in ("node", "restarts", "down", "back healthy", "stranded", "stranded resolved"):
        restarts.add_column(column, justify="left" if column == "node" else "right")
    for node in sorted({r.node for r in report.restarts}):
        mine = [r for r in report.restarts if r.node == node]
        resolved = [r.resolved for r in mine if r.resolved is not None]
        restarts.add_row(
            node, str(len(mine)), _spread([r.down for r in mine]),
            _spread([r.ready for r in mine]), str(sum(r.stranded for r in mine)),
            _spread(resolved) + ("" if len(resolved) == len(mine) else " (some never)"),
        )
    console.print(restarts)
    for violation in report.violations:
        console.print(f"[red]violation[/]: {violation}")


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f} s"


if __name__ == "__main__":
    sys.exit(main())
