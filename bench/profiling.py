"""``--profile`` of the HTTP settle benchmarks: where the nodes' CPU goes, sampled by py-spy.

One more, unmeasured level runs with py-spy attached to both nodes in ``--gil`` mode (only
samples of the thread holding the GIL, i.e. Python doing work; waits in fsync, epoll, the
database's socket or SQLite's busy handler release the GIL and are left out). The collapsed
stacks are summarised per node: share by library, tongban's functions, hottest lines.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from harness import Setup
from machine import console
from workload import HOME, VISIT

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
    ("psycopg (PostgreSQL driver)", ("(psycopg/", "(psycopg_binary/")),
    ("SQLAlchemy (+ sqlite3, incl. its C calls)", ("(sqlalchemy/", "(sqlite3/")),
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


def profile_level(setup: Setup) -> None:
    """An extra, unmeasured level with py-spy attached to both nodes; prints where CPU goes."""
    args, out = setup.args, setup.data_dir / "profile"
    spy = find_py_spy()
    if spy is None:
        console.print("[yellow]--profile: py-spy not found (pip install py-spy, or set "
                      "PY_SPY=/path/to/py-spy); skipped[/]")
        return
    out.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for name in ("visit", "home"):
        recorders[name] = subprocess.Popen(
            [spy, "record", "--pid", str(setup.pids[name]), "--format", "raw", "--rate", "250",
             "--gil", "--nonblocking", "--output", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=(out / f"py-spy-{name}.log").open("wb"),
        )
    try:
        time.sleep(1.0)  # let py-spy attach
        result = setup.level(args.profile_clients, seed_offset=2)
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
