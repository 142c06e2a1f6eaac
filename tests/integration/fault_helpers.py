"""Faults between the small network's nodes: the Shanghai node's outbound transport loses
chosen messages, or their answers (tongban.adapters.transport.FaultyTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

from network_fixtures import JINHUA, SHANGHAI, SmallNetwork
from tongban.adapters.transport import FaultyTransport


class Faults:
    """Loses the next ``times`` messages of a kind sent by the Shanghai node, or their answers."""

    def __init__(self, net: SmallNetwork) -> None:
        runtime = net.network.nodes[SHANGHAI]
        self.transport = FaultyTransport(runtime.exchange.transport)
        runtime.exchange.transport = self.transport
        self.lost_requests: list[bytes] = []

    def _once(self, kind: str, times: int, keep: bool) -> Callable[[str, bytes], bool]:
        left = [times]

        def matches(endpoint: str, payload: bytes) -> bool:
            if left[0] <= 0 or json.loads(payload)["kind"] != kind:
                return False
            left[0] -= 1
            if keep:
                self.lost_requests.append(payload)
            return True

        return matches

    def lose_request(self, kind: str, times: int = 1) -> None:
        self.transport.drop_request = self._once(kind, times, keep=True)

    def lose_answer(self, kind: str, times: int = 1) -> None:
        self.transport.drop_answer = self._once(kind, times, keep=False)

    def home_down(self) -> None:
        self.transport.drop_request = lambda endpoint, payload: endpoint == f"inproc://{JINHUA}"

    def heal(self) -> None:
        self.transport.drop_request = self.transport.drop_answer = None
