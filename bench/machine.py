"""The machine and its processes: cores, load, CPU time per process (``/proc``), and the
table of CPU per settlement the HTTP settle benchmarks print."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from workload import LevelResult

console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 of stat(5) on


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    fields = _stat_fields(pid)
    if fields is None:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def postgres_cpu() -> float | None:
    """CPU seconds of every local ``postgres`` process so far, exited backends included.

    Live processes count their utime + stime; backends that already exited are in their
    parent's (the postmaster's) cutime + cstime, so the difference of two readings is exact
    even while connection pools open and close backends. None if no server runs here.
    """
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        found = True
        total += int(fields[11]) + int(fields[12])
        try:
            parent = (Path("/proc") / fields[1] / "comm").read_text().strip()
        except OSError:
            parent = ""
        if parent != "postgres":  # the postmaster: add its reaped children
            total += int(fields[13]) + int(fields[14])
    return total / CLK_TCK if found else None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return float("nan"), float("nan")
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def print_machine() -> int:
    """Print cores, CPU model and load average; return the core count."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()
    console.print(
        f"machine: {cores} cores (os.cpu_count), {cpu_model()}, Python {sys.version.split()[0]}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if load[0] > 0.5 * cores:
        console.print(f"[yellow]note: the machine is already busy (load {load[0]:.1f} on "
                      f"{cores} cores): other processes take CPU from the benchmark[/]")
    return cores


CPU_COLUMNS = {"visit": "visit node", "home": "home node", "hub": "hub", "client": "client",
               "postgres": "PostgreSQL"}


def print_cpu_table(results: Sequence[LevelResult], cores: int) -> None:
    """CPU per settlement of each process, their sum, and the rate CPU alone would allow."""
    names = [n for n in CPU_COLUMNS if results and n in results[0].cpu_s]
    table = Table(title="CPU per settlement (ms of utime+stime) and what it allows")
    for column in ("clients", *(CPU_COLUMNS[n] for n in names), f"all {len(names)}",
                   "CPU-bound max/s", "others' CPU"):
        table.add_column(column, justify="right")
    for r in results:
        n = r.settled
        ours = sum(r.cpu_s.values())
        others = max(0.0, r.machine_busy_s - ours) / r.machine_total_s if r.machine_total_s else 0
        per = [r.cpu_s[name] / n * 1000 if n else float("nan") for name in names]
        table.add_row(
            str(r.clients), *(f"{v:.3f}" if name == "hub" else f"{v:.2f}"
                              for name, v in zip(names, per, strict=True)),
            f"{ours / n * 1000 if n else float('nan'):.2f}",
            f"{cores * n / ours if ours else float('nan'):,.0f}", f"{others:.0%}",
        )
    console.print(table)
    what = ", ".join(CPU_COLUMNS[n] for n in names)
    console.print(
        f"CPU-bound max/s = {cores} cores ÷ CPU of all {len(names)} ({what}) per settlement: "
        f"the rate if CPU were the only limit. others' CPU = machine CPU used outside them "
        f"during the level, as a share of all {cores} cores. They all share this machine's "
        f"{cores} cores. Latency percentiles cover every request of the level."
    )


