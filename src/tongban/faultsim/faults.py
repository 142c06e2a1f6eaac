"""Fault kinds, the seeded plan that injects them, and the crash signal."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    DROP_REQUEST = "drop_request"  # lost on the way: the receiver never sees it
    DROP_ANSWER = "drop_answer"  # processed, but the answer is lost on the way back
    DUPLICATE = "duplicate"  # delivered twice (the network or a proxy repeated it)
    DELAY = "delay"  # held back; the sender times out, it arrives later (maybe stale)
    REORDER = "reorder"  # held messages arrive in another order than they were sent
    CRASH_BEFORE_COMMIT = "crash_before_commit"  # the process dies, the transaction is lost
    CRASH_AFTER_COMMIT = "crash_after_commit"  # the process dies just after its commit
    HUB_DOWN = "hub_down"  # the hub is away for a while
    HIS_ANSWER_LOST = "his_answer_lost"  # the node answered the hospital; the HIS never saw it


MESSAGE_FAULTS = {  # fault -> weight; delays weigh most: late arrivals are the subtle case
    Fault.DROP_REQUEST: 2,
    Fault.DROP_ANSWER: 3,
    Fault.DUPLICATE: 2,
    Fault.DELAY: 3,
}


class NodeCrash(BaseException):
    """The node process dies here. A BaseException, so no ``except Exception`` in the code
    under test can swallow it: everything on the stack unwinds, transactions roll back."""

    def __init__(self, region: str, when: Fault) -> None:
        super().__init__(f"{region} crashed ({when.value})")
        self.region = region
        self.when = when


@dataclass
class FaultPlan:
    """Decides every fault from one seeded RNG; counts what it injected."""

    rng: random.Random
    message_rate: float = 0.12  # chance that a node-to-node message meets a fault
    crash_rate: float = 0.02  # chance that a write transaction is the last before a crash
    his_loss_rate: float = 0.05  # chance that the hospital does not get the node's answer
    enabled: bool = True
    injected: Counter[str] = field(default_factory=Counter)

    def message_fate(self) -> Fault | None:
        if not self.enabled or self.rng.random() >= self.message_rate:
            return None
        kinds = list(MESSAGE_FAULTS)
        return self._count(self.rng.choices(kinds, [MESSAGE_FAULTS[k] for k in kinds])[0])

    def crash_at_commit(self) -> Fault | None:
        if not self.enabled or self.rng.random() >= self.crash_rate:
            return None
        fault = Fault.CRASH_BEFORE_COMMIT if self.rng.random() < 0.5 else Fault.CRASH_AFTER_COMMIT
        return self._count(fault)

    def his_answer_lost(self) -> bool:
        if not self.enabled or self.rng.random() >= self.his_loss_rate:
            return False
        self._count(Fault.HIS_ANSWER_LOST)
        return True

    def _count(self, fault: Fault) -> Fault:
        self.injected[fault.value] += 1
        return fault
