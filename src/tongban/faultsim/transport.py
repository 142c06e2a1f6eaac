"""The simulated network: the real in-process transport, with faults the plan decides.

Envelopes stay the real signed bytes, so the gates' checks (signature, staleness, replay) are
exercised by every duplicate and every late arrival. A node that crashes while handling a
message gives its sender no answer, exactly like a process that died mid-request.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from tongban.adapters.transport import InProcessTransport
from tongban.errors import TransportError
from tongban.faultsim.faults import Fault, FaultPlan, NodeCrash


@dataclass(frozen=True)
class HeldMessage:
    endpoint: str
    payload: bytes
    due_step: int
    sequence: int  # how many messages had been sent to the endpoint when this one was


class SimTransport:
    def __init__(self, plan: FaultPlan, on_crash: Callable[[NodeCrash], None]) -> None:
        self.inproc = InProcessTransport()  # the embedded network registers its handlers here
        self.plan = plan
        self.on_crash = on_crash
        self.step = 0
        self.held: list[HeldMessage] = []
        self.delivered_late = 0
        self._sent: dict[str, int] = {}

    def send(self, endpoint: str, payload: bytes) -> bytes:
        self._sent[endpoint] = self._sent.get(endpoint, 0) + 1
        fate = self.plan.message_fate()
        if fate is Fault.DROP_REQUEST:
            raise TransportError(f"{endpoint}: request dropped (simulated)")
        if fate is Fault.DELAY:
            self._hold(endpoint, payload)
            raise TransportError(f"{endpoint}: timed out (simulated delay)")
        answer = self._deliver(endpoint, payload)
        if fate is Fault.DUPLICATE:
            if self.plan.rng.random() < 0.5:
                self._deliver_quietly(endpoint, payload)  # right behind the first copy
            else:
                self._hold(endpoint, payload)
        if fate is Fault.DROP_ANSWER:
            raise TransportError(f"{endpoint}: answer lost (simulated)")
        return answer

    def deliver_due(self, everything: bool = False) -> int:
        """Deliver the held messages that are due, in a shuffled order; answers go nowhere."""
        due = [m for m in self.held if everything or m.due_step <= self.step]
        if not due:
            return 0
        self.held = [m for m in self.held if m not in due]
        self.plan.rng.shuffle(due)
        for message in due:
            if self._sent[message.endpoint] > message.sequence:  # overtaken by a later one
                self.plan.injected[Fault.REORDER.value] += 1
            self._deliver_quietly(message.endpoint, message.payload)
        self.delivered_late += len(due)
        return len(due)

    def _hold(self, endpoint: str, payload: bytes) -> None:
        due = self.step + self.plan.rng.randint(1, 12)
        self.held.append(HeldMessage(endpoint, payload, due, self._sent[endpoint]))

    def _deliver(self, endpoint: str, payload: bytes) -> bytes:
        try:
            return self.inproc.send(endpoint, payload)
        except NodeCrash as crash:
            if endpoint != f"inproc://{crash.region}":
                raise  # not the receiver: the crash belongs further up the stack
            self.on_crash(crash)
            raise TransportError(f"{endpoint}: connection reset (the node crashed)") from None

    def _deliver_quietly(self, endpoint: str, payload: bytes) -> None:
        with suppress(TransportError):  # the receiver is down or crashed on it: copy lost
            self._deliver(endpoint, payload)
