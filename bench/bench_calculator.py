"""Benchmark: the pure calculator (classify + compute_split) in-process, one thread.

Bills come from the demo's sample generator on Shanghai's catalogue (就医地目录), the split from
Jinhua's sample policies (参保地政策) and Jinhua's sample insured people; every input is built
before timing starts, so only the domain functions are measured. Nothing is asserted: the
figures are printed, together with the machine's. See bench/README.md.

    .venv/bin/python bench/bench_calculator.py [--bills 50000] [--warmup 5000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tongban.demo.network import JINHUA, SHANGHAI, population
from tongban.demo.sample_bills import INPATIENT_MEAN_FEN, OUTPATIENT_MEAN_FEN, sample_bill
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.demo.sample_people import sample_people
from tongban.demo.sample_policies import sample_policies
from tongban.domain.catalogue import BillLine, BillPieces, CatalogueItem, classify
from tongban.domain.policy import (
    FilingCategory,
    InsuType,
    MedType,
    PersonState,
    Policy,
    compute_split,
)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)

INPATIENT_SHARE = 0.05  # about 1 bill in 20 is an admission, as in the simulated day
# Filing category of a visit, weighted roughly as in the demo (a third of the insured filed).
CATEGORY_WEIGHTS = {
    FilingCategory.NONE: 60,
    FilingCategory.LONG_TERM: 10,
    FilingCategory.REFERRAL: 6,
    FilingCategory.OTHER: 18,
    FilingCategory.EMERGENCY: 6,
}


@dataclass(frozen=True, slots=True)
class Case:
    """One prepared settlement: what the visit side and the home side each get."""

    lines: tuple[BillLine, ...]
    policy: Policy
    state: PersonState
    category: FilingCategory
    use_account: bool
    pieces: BillPieces  # classify's output, precomputed for the compute_split-only loop


def machine() -> dict[str, str]:
    """Core count, CPU model and Python version."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                model = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = str(os.cpu_count())
    if affinity is not None and str(affinity) != cores:
        cores += f" ({affinity} usable by this process)"
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "cores (os.cpu_count)": cores,
        "CPU model": model,
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
        "load average (1, 5, 15 min)": load,
    }


def prepare(count: int, distinct: int, seed: int) -> list[Case]:
    """``count`` realistic settlements: bills, policy rows, person states, filing categories.

    ``distinct`` different bills are generated (the generator is slow) and dealt out in turn;
    every case draws its own person, institution level, state and filing category.
    """
    rng = random.Random(f"bench-calculator/{seed}")
    catalogue_items = regional_catalogue(SHANGHAI)
    catalogue = {item.code: item for item in catalogue_items}
    policies = {(p.insutype, p.med_type, p.level): p for p in sample_policies(JINHUA)}
    people = sample_people(JINHUA, population(JINHUA), seed)
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    bills: list[tuple[MedType, tuple[BillLine, ...], BillPieces]] = []
    for _ in range(min(distinct, count)):
        med_type = MedType.INPATIENT if rng.random() < INPATIENT_SHARE else MedType.OUTPATIENT
        mean = OUTPATIENT_MEAN_FEN if med_type is MedType.OUTPATIENT else INPATIENT_MEAN_FEN
        lines = tuple(sample_bill(catalogue_items, med_type, rng, mean))
        bills.append((med_type, lines, classify(lines, catalogue).pieces))
    cases: list[Case] = []
    for i in range(count):
        med_type, lines, pieces = bills[i % len(bills)]
        person = rng.choice(people)
        level = rng.choices((1, 2, 3), weights=(1, 4, 9))[0]  # big hospitals draw most patients
        policy = policies[(person.insutype, med_type, level)]
        category = rng.choices(categories, weights=weights)[0]
        if policy.reduction.for_category(category) is None:
            category = FilingCategory.OTHER  # residents must file; keep every case settleable
        # Somewhere in the person's year: part of the deductible used, some fund paid.
        state = PersonState(
            deductible_used=rng.randint(0, policy.deductible),
            fund_paid=rng.randint(0, policy.annual_cap // 2),
            account_balance=person.account_balance,
            admissions=rng.randint(0, 2) if med_type is MedType.INPATIENT else 0,
        )
        use_account = person.insutype == InsuType.EMPLOYEE.value
        cases.append(Case(lines, policy, state, category, use_account, pieces))
    return cases


Step = Callable[[Case], object]


def measure(cases: Sequence[Case], step: Step, warmup: int) -> tuple[list[int], int]:
    """Per-call latencies (ns) of ``step`` over ``cases``, and the loop's wall time (ns)."""
    for case in cases[:warmup]:
        step(case)
    timer = time.perf_counter_ns
    latencies = [0] * len(cases)
    gc.collect()
    start = timer()
    for i, case in enumerate(cases):
        t0 = timer()
        step(case)
        latencies[i] = timer() - t0
    wall = timer() - start
    return latencies, wall


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    index = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return sorted_ns[index] / 1000


def timer_overhead_ns() -> float:
    timer = time.perf_counter_ns
    n = 200_000
    start = timer()
    for _ in range(n):
        t0 = timer()
        _ = timer() - t0
    return (timer() - start) / n


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=50_000, help="measured bills per loop")
    parser.add_argument("--warmup", type=int, default=5_000, help="unmeasured calls first")
    parser.add_argument("--distinct", type=int, default=10_000,
                        help="different bills generated (dealt out in turn)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each loop (round robin); the fastest is shown")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, run the full loop once more under cProfile")
    args = parser.parse_args(argv)

    info = Table(title="machine", show_header=False)
    for key, value in machine().items():
        info.add_row(key, value)
    console.print(info)
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 0.5:
        console.print("[yellow]note: other processes are running (load average above); "
                      "this single-threaded loop may lose its core to them now and then, "
                      "which shows in p99 and max[/]")

    started = time.perf_counter()
    cases = prepare(args.bills, args.distinct, args.seed)
    catalogue: dict[str, CatalogueItem] = {i.code: i for i in regional_catalogue(SHANGHAI)}
    mix = Counter(c.policy.med_type.value for c in cases)
    lines_per_bill = sum(len(c.lines) for c in cases) / len(cases)
    mean_bill = sum(c.pieces.medfee_sumamt for c in cases) / len(cases) / 100
    console.print(
        f"{len(cases):,} bills ({min(args.distinct, args.bills):,} different) prepared in "
        f"{time.perf_counter() - started:.1f} s (not measured): "
        f"{mix['outpatient']:,} outpatient, {mix['inpatient']:,} inpatient; "
        f"{lines_per_bill:.2f} lines per bill, mean bill {mean_bill:,.2f} yuan; "
        f"catalogue {SHANGHAI} ({len(catalogue)} items), policies {JINHUA}."
    )

    def full(case: Case) -> object:
        bill = classify(case.lines, catalogue)
        return compute_split(bill.pieces, case.policy, case.state, case.category,
                             case.use_account)

    def classify_only(case: Case) -> object:
        return classify(case.lines, catalogue)

    def split_only(case: Case) -> object:
        return compute_split(case.pieces, case.policy, case.state, case.category,
                             case.use_account)

    loops: list[tuple[str, Step]] = [
        ("classify + compute_split", full),
        ("classify only", classify_only),
        ("compute_split only", split_only),
    ]
    table = Table(title=f"pure calculator, one thread, {len(cases):,} bills per loop after "
                        f"{args.warmup:,} warm-up calls, best of {args.repeat} runs")
    for column in ("loop", "calls/s", "mean µs", "p50 µs", "p99 µs", "max µs", "runs' calls/s"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    runs: dict[str, list[tuple[list[int], int]]] = {name: [] for name, _ in loops}
    for _ in range(args.repeat):  # round robin, so drift on the machine hits every loop alike
        for name, step in loops:
            runs[name].append(measure(cases, step, args.warmup))
    for name, _ in loops:
        latencies, wall = min(runs[name], key=lambda run: run[1])
        ordered = sorted(latencies)
        table.add_row(
            name,
            f"{len(cases) / (wall / 1e9):,.0f}",
            f"{sum(latencies) / len(latencies) / 1000:.1f}",
            f"{percentile(ordered, 0.50):.1f}",
            f"{percentile(ordered, 0.99):.1f}",
            f"{ordered[-1] / 1000:.1f}",
            " ".join(f"{len(cases) / (w / 1e9) / 1000:.1f}k" for _, w in runs[name]),
        )
    console.print(table)
    console.print(
        f"calls/s = bills ÷ wall time of the whole loop (timer calls included); latencies are "
        f"per call with time.perf_counter_ns, whose own cost here is "
        f"≈{timer_overhead_ns():.0f} ns per reading pair. GC stays enabled."
    )
    if args.profile:
        profile(cases, full)


def profile(cases: Sequence[Case], step: Step, top: int = 15) -> None:
    """The full loop under cProfile (slower: only the proportions mean something)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for case in cases:
        step(case)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(cumulative for _cc, _n, _own, cumulative, _callers in entries.values())
    table = Table(title=f"cProfile of classify + compute_split: top {top} by own time "
                        f"(shares of the whole loop)")
    for column in ("function", "calls per bill", "own share", "incl. share"):
        table.add_column(column, justify="left" if column == "function" else "right")
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in rows[:top]:
        where = f"{Path(filename).name}:{line}" if filename != "~" else "built-in"
        table.add_row(f"{name} ({where})", f"{calls / len(cases):.1f}", f"{own / total:.0%}",
                      f"{cumulative / total:.0%}")
    console.print(table)


if __name__ == "__main__":
    main()
