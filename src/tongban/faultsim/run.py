"""One seed end to end (workload with faults, healing, recovery, checks, clearing), and many."""

from __future__ import annotations

import atexit
import multiprocessing
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tongban.domain.clearing import Period, match_events
from tongban.errors import TongbanError
from tongban.faultsim.faults import FaultPlan, NodeCrash
from tongban.faultsim.invariants import check_invariants
from tongban.faultsim.workload import Workload
from tongban.faultsim.world import REGIONS, SimWorld, build_template, template_cast
from tongban.service_layer.ledger_check import check_hub
from tongban.service_layer.visit_side import RECOVERY_GRACE

DEFAULT_STEPS = 60


@dataclass
class SeedResult:
    seed: int
    steps: int
    faults: Counter[str] = field(default_factory=Counter)
    settlements: int = 0
    told: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@contextmanager
def template_dir() -> Iterator[Path]:
    """A freshly built template network in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="tongban-sim-template-") as tmp:
        path = Path(tmp) / "template"
        build_template(path)
        yield path


def run_seed(seed: int, template: Path, workdir: Path, steps: int = DEFAULT_STEPS) -> SeedResult:
    """Run one seed in ``workdir`` (which must not exist) from the template network."""
    rng = random.Random(seed)
    plan = FaultPlan(random.Random(rng.getrandbits(64)))
    world = SimWorld(template, workdir, plan)
    workload = Workload(world, template_cast(), random.Random(rng.getrandbits(64)), seed)
    result = SeedResult(seed, steps)
    try:
        for _ in range(steps):
            _tick(world, rng)
            workload.step()
        _heal(world, workload, rng)
        result.violations = check_invariants(world, workload)
        result.violations += _clearing_problems(world)
    finally:
        world.close()
    result.faults = plan.injected
    result.settlements = len(workload.bills)
    result.told = Counter(b.told.value if b.told else "no answer" for b in workload.bills)
    result.trace = workload.trace + [f"crashed {c}" for c in world.crashes]
    return result


def _tick(world: SimWorld, rng: random.Random) -> None:
    """Time passes; crashed nodes and the hub come back when due; late messages arrive."""
    world.transport.step += 1
    world.clock.advance(
        rng.choice((1, 2, 5, 10, 20, 30)) if rng.random() < 0.9 else rng.randint(60, 400)
    )
    world.restart_due()
    world.hub_up_if_due()
    world.transport.deliver_due()


def _heal(world: SimWorld, workload: Workload, rng: random.Random) -> None:
    """Faults stop; everything comes back; recovery runs as it would on its schedule.

    Messages still held arrive either before recovery or after it (the nastier order: a late
    commit meets the id recovery has just voided); stale ones are refused at the gate.
    """
    world.plan.enabled = False
    world.hub_up_if_due(everything=True)
    world.restart_due(everything=True)
    if rng.random() < 0.5:
        world.transport.deliver_due(everything=True)
    world.clock.advance(RECOVERY_GRACE.total_seconds() + 60)
    for region in REGIONS:
        world.runtime(region).service.visit.recover()
    world.transport.deliver_due(everything=True)
    for bill in workload.bills:  # each hospital settles what it is still unsure of
        if bill.told is None:
            workload.resend(bill)
        elif bill.in_doubt:
            workload.ask_status(bill)


def _clearing_problems(world: SimWorld) -> list[str]:
    """Clear the simulated month: no exceptions, every statement confirmed, books sound."""
    clearing = world.network.hub.clearing
    store = clearing.store
    clearing.match_period = lambda p: match_events(*store.report_views(p))  # type: ignore[attr-defined]
    period = str(Period.of(world.clock()))
    try:
        summary = clearing.clear(period)
    except (TongbanError, NodeCrash) as exc:
        return [f"clearing {period} failed: {exc}"]
    problems = [
        f"clearing exception {x.kind} {x.settlement_id} {x.event}" for x in summary.exceptions_found
    ]
    problems += [
        f"statement {r}: {s} {summary.disputes.get(r, '')}"
        for r, s in summary.statements.items()
        if s != "CONFIRMED"
    ]
    if summary.status != "CLOSED":
        problems.append(f"clearing {period} ended {summary.status}")
    book = check_hub("hub", store)
    if not book.sound:
        problems.append(f"hub ledger: {book.audit} {book.differences}")
    return problems


def run_seeds(
    seeds: Iterable[int],
    steps: int = DEFAULT_STEPS,
    jobs: int = 1,
    done: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Run many seeds, in ``jobs`` processes each with its own template; ``done`` is told of
    each result as it comes. Results come back in seed order."""
    seeds = list(seeds)
    results: dict[int, SeedResult] = {}
    if jobs <= 1:
        with template_dir() as template, tempfile.TemporaryDirectory(prefix="tongban-sim-") as tmp:
            for seed in seeds:
                results[seed] = run_seed(seed, template, Path(tmp) / f"seed-{seed}", steps)
                if done:
                    done(results[seed])
        return [results[s] for s in seeds]
    context = multiprocessing.get_context("spawn")  # no inherited engines or threads
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker) as pool:
        futures = [pool.submit(_run_in_worker, seed, steps) for seed in seeds]
        for future in as_completed(futures):
            result = future.result()
            results[result.seed] = result
            if done:
                done(result)
    return [results[s] for s in seeds]


_worker: dict[str, Path] = {}


def _start_worker() -> None:
    root = Path(tempfile.mkdtemp(prefix="tongban-sim-worker-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    build_template(root / "template")
    _worker["root"] = root


def _run_in_worker(seed: int, steps: int) -> SeedResult:
    root = _worker["root"]
    workdir = root / f"seed-{seed}"
    try:
        return run_seed(seed, root / "template", workdir, steps)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
