"""``tongban simulate``: the seeded fault simulator (``tongban.faultsim``) from the shell.

Runs many seeds and prints what was tried and what broke: seeds run, faults injected by kind,
settlements attempted and what hospitals were told, invariant violations. A failing seed is
printed with the command that reproduces it; ``--seed N --trace`` replays one seed step by step.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from tongban.faultsim import SeedResult, run_seeds
from tongban.faultsim.run import DEFAULT_STEPS

console = Console()


def simulate(
    seeds: Annotated[int, typer.Option(help="how many seeds to run")] = 200,
    first: Annotated[int, typer.Option("--from", help="the first seed")] = 0,
    seed: Annotated[
        int | None, typer.Option(help="run this one seed only (reproduce a failure)")
    ] = None,
    steps: Annotated[int, typer.Option(help="workload steps per seed")] = DEFAULT_STEPS,
    jobs: Annotated[int, typer.Option(help="worker processes")] = max(1, os.cpu_count() or 1),
    trace: Annotated[bool, typer.Option(help="print each step of the seed(s)")] = False,
) -> None:
    """Run the network under injected faults, seed by seed, and check it lost nothing.

    Exit status: 0 no invariant was violated, 1 some seed violated one (printed with its number).
    """
    chosen = [seed] if seed is not None else list(range(first, first + seeds))
    started = time.monotonic()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("seeds", total=len(chosen))
        results = run_seeds(
            chosen, steps, jobs=min(jobs, len(chosen)), done=lambda _r: progress.advance(task)
        )
    if trace:
        for result in results:
            console.print(f"[bold]seed {result.seed}[/]")
            for line in result.trace:
                console.print(f"  {line}", highlight=False)
    _report(results, steps, time.monotonic() - started)
    raise typer.Exit(1 if any(not r.ok for r in results) else 0)


def _report(results: list[SeedResult], steps: int, seconds: float) -> None:
    faults: Counter[str] = Counter()
    told: Counter[str] = Counter()
    for result in results:
        faults.update(result.faults)
        told.update(result.told)
    failed = [r for r in results if not r.ok]
    summary = Table(
        title=f"fault simulation: {len(results)} seeds × {steps} steps", show_header=False
    )
    summary.add_row("seeds run", f"{len(results):,}")
    summary.add_row("wall time", f"{seconds:.1f} s ({seconds / max(len(results), 1):.2f} s/seed)")
    summary.add_row("settlements attempted", f"{sum(r.settlements for r in results):,}")
    for outcome, count in sorted(told.items()):
        summary.add_row(f"  hospital told {outcome}", f"{count:,}")
    summary.add_row("faults injected", f"{sum(faults.values()):,}")
    for kind, count in sorted(faults.items()):
        summary.add_row(f"  {kind}", f"{count:,}")
    summary.add_row("invariant violations", f"{sum(len(r.violations) for r in results):,}")
    summary.add_row("seeds with a violation", f"{len(failed):,}")
    console.print(summary)
    for result in failed[:10]:
        console.print(
            f"[red]seed {result.seed}[/]: reproduce with "
            f"`tongban simulate --seed {result.seed} --steps {steps} --trace`"
        )
        for violation in result.violations[:5]:
            console.print(f"  - {violation}", highlight=False)
