"""Where residents' one-time sign-in codes go.

Production sends them by SMS to the phone on record: a gateway adapter with the same two
methods plugs in through ``build_node(code_sender=...)``. This one keeps the last code of each
challenge in memory, for tests and the demo; it shows a code in the sign-in answer only when
told to (``show_codes``, off by default), since that lets anyone sign in as anyone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from tongban.service_layer.records import PersonRecord

KEEP = 10_000  # challenges remembered; older ones are forgotten first


class MemoryCodeSender:
    delivery = "sms"

    def __init__(self, show_codes: bool = False) -> None:
        self.show_codes = show_codes
        self._codes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def send(self, person: PersonRecord, challenge_id: str, code: str) -> None:
        with self._lock:
            self._codes[challenge_id] = code
            while len(self._codes) > KEEP:
                self._codes.popitem(last=False)

    def last_code(self, challenge_id: str) -> str | None:
        """The code sent for a challenge: what the resident's phone would show."""
        with self._lock:
            return self._codes.get(challenge_id)

    def demo_code(self, challenge_id: str) -> str | None:
        return self.last_code(challenge_id) if self.show_codes else None
