"""kill -9 under load: nothing acknowledged to a hospital is lost or doubled.

A hub, Shanghai (visit) and two home regions (Jinhua, Nanjing) run as real `tongban`
processes. Four Shanghai hospitals' HIS threads register visits, settle and sometimes cancel
over HTTP, retrying the same settlement id with the same content until a final answer, while
every node is SIGKILLed at random moments (twice each) and started again. Afterwards both
sides' databases and ledgers are held against every acknowledgement (bench/crash_scenario.py,
bench/crash_verify.py). The seed is printed; TONGBAN_CRASH_SEED=N runs that seed again.
The same scenario runs longer, with a table of figures, as bench/bench_crash.py.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

# The scenario is shared with bench/bench_crash.py, which runs it longer.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))
from crash_scenario import SEED_ENV, CrashPlan, run_crash_scenario


def test_every_settlement_acknowledged_to_a_hospital_survives_kill_9_of_both_nodes_exactly_once(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(1_000_000))
    print(f"\ncrash seed {seed} (run again with {SEED_ENV}={seed})")
    plan = CrashPlan(seconds=20, kills=2, clients=4, seed=seed)
    report = run_crash_scenario(tmp_path / "network", plan)
    for label, value in report.figures():
        print(f"{label:45} {value}")
    for violation in report.violations:
        print("VIOLATION", violation)

    assert report.violations == [], f"seed {seed}: {len(report.violations)} violations"
    assert report.kills == {node: plan.kills for node in ("310000", "330700", "320100")}
    settled = report.count("SETTLED")
    assert settled >= 20, f"seed {seed}: only {settled} settlements acknowledged under load"
    assert report.exactly_once == settled  # every acknowledged one whole on both sides
    assert report.unanswered == 0, "every HIS has its final answer once the nodes are back"
    assert sum(s.retries for s in report.settlements) > 0  # the kills were felt
