"""A seeded, deterministic fault simulator for the settlement network (issue 5).

It runs the real node and hub code (services, stores on SQLite, signed envelopes) over a
simulated transport and clock, drives a random hospital workload, and injects faults: messages
dropped, answered-then-lost, duplicated, delayed and reordered; nodes crashing before or after a
database commit and restarting; the hub going away. Then it lets recovery finish and checks what
operators rely on (``invariants``). Everything random comes from one seed, so a failing seed
reproduces exactly from its number: ``tongban simulate --seed N``.

- ``faults``: the fault kinds, the seeded plan that decides them, the crash signal.
- ``transport``: the simulated network between nodes and hub.
- ``world``: the network on disk (a template copied per seed), crashes and restarts.
- ``workload``: hospitals (HIS) and residents acting at random, and what they were told.
- ``invariants``: the checks after recovery.
- ``run``: one seed end to end, and many.
"""

from tongban.faultsim.run import SeedResult, run_seed, run_seeds

__all__ = ["SeedResult", "run_seed", "run_seeds"]
