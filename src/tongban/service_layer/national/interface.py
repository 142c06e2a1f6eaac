"""One national envelope in, one answer envelope out (DESIGN.md §6).

The envelope is checked first (domain/national.py), then that it comes from the caller's own
institution to this region's node. A msgid is an idempotency key: a transaction that changes
something is kept by its msgid, and the same msgid with the same input gets the same answer
(a different input is MSGID_REUSED); a reversed msgid is refused (MSGID_REVERSED).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import Any

from tongban.domain.calendar import SHANGHAI
from tongban.domain.national import Envelope, answer, error_answer, parse_envelope
from tongban.errors import Conflict, Forbidden, InvalidInput, TongbanError
from tongban.service_layer import wire
from tongban.service_layer.national.reconciliation import ReconciliationTransactions
from tongban.service_layer.national.reversal import ReversalTransactions
from tongban.service_layer.national.settlements import SettlementTransactions
from tongban.service_layer.national.visits import VisitTransactions

Handler = Callable[[Envelope, str], dict[str, Any]]


class NationalInterface(
    VisitTransactions, SettlementTransactions, ReversalTransactions, ReconciliationTransactions
):
    """The national platform's hospital interface at one node (visit role)."""

    _serials = itertools.count(1)
    _serial_lock = threading.Lock()

    @cached_property
    def transactions(self) -> dict[str, Handler]:
        """infno → handler: what tongban answers (others are UNSUPPORTED_INFNO)."""
        return {
            "1101": self.person_info,
            "2201": self.register_outpatient,
            "2203": self.visit_info,
            "2203A": self.visit_info,
            "2204": self.upload_fees,
            "2206": self.pre_settle,
            "2207": self.settle,
            "2208": self.cancel,
            "2401": self.admit,
            "2402": self.discharge,
            "2301": self.upload_fees,
            "2303": self.pre_settle,
            "2304": self.settle,
            "2305": self.cancel,
            "2601": self.reverse,
            "3201": self.reconcile_totals,
            "3202": self.reconcile_detail,
        }

    def handle(self, raw: object, institution: str) -> dict[str, Any]:
        """The answer envelope to a decoded request from the authenticated ``institution``."""
        received = self._now()
        try:
            env = parse_envelope(raw)
            handler = self._handler(env, institution)
            digest = wire.content_hash(
                {"infno": env.infno, "insuplc": env.insuplc_admdvs, "input": dict(env.input)}
            )
            stored = self._repeat(env, digest)
            output = stored if stored is not None else handler(env, digest)
        except TongbanError as exc:
            return self.refusal(exc, received)
        return answer(env, output, self.region, self._now(), self._serial(), received)

    def refusal(self, error: TongbanError, received: datetime | None = None) -> dict[str, Any]:
        """The failure envelope: infcode -1, err_msg "<CODE>: detail"."""
        return error_answer(error, self.region, self._now(), self._serial(), received)

    def _handler(self, env: Envelope, institution: str) -> Handler:
        if env.fixmedins_code != institution:
            raise Forbidden("INSTITUTION_MISMATCH", f"fixmedins_code {env.fixmedins_code} is not "
                            f"the institution of this API key ({institution})")
        if env.mdtrtarea_admvs != self.region:
            raise InvalidInput("MDTRTAREA_MISMATCH", f"this is the node of {self.region}; "
                               f"mdtrtarea_admvs says {env.mdtrtarea_admvs}",
                               field="mdtrtarea_admvs")
        handler = self.transactions.get(env.infno)
        if handler is None:
            raise InvalidInput("UNSUPPORTED_INFNO", f"tongban does not carry out {env.infno}; "
                               f"it answers {', '.join(self.transactions)}", field="infno")
        return handler

    def _repeat(self, env: Envelope, digest: str) -> dict[str, Any] | None:
        """The answer already given to this msgid, or None to carry it out (again)."""
        with self.store.read() as tx:
            seen = tx.national_message(env.msgid)
        if seen is None:
            return None
        if seen.reversal is not None:
            raise Conflict("MSGID_REVERSED", f"{env.msgid} was reversed (2601) by "
                           f"{seen.reversed_by}: send a new msgid")
        if seen.content_hash != digest or seen.infno != env.infno:
            raise Conflict("MSGID_REUSED", f"{env.msgid} was used for another message")
        return json.loads(seen.answer) if seen.answer is not None else None

    def _now(self) -> datetime:
        # The national platform's times are Beijing time, as hospital systems log them.
        return self.clock().astimezone(SHANGHAI)

    def _serial(self) -> int:
        with self._serial_lock:
            return next(self._serials) % 10**10
