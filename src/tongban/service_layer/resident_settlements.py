"""A signed-in resident's own settlements elsewhere, each with its split explained.

The home node keeps each settlement's split but not its bill lines (the visit region classified
them and sent only the four pieces). For the line-by-line explanation the home node asks the
visit node over the signed exchange (``lines``); the visit node answers only for a settlement
of that home region's insured with that person's pseudonym. If it does not answer, the page
still explains the split, without the lines.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, Protocol

from tongban.domain.explanation import explain, lines_agree
from tongban.errors import NotFound, TongbanError, TransportError
from tongban.service_layer.ports import Caller
from tongban.service_layer.records import HomeSettlementRecord, PersonRecord


class ResidentSettlementsTx(Protocol):
    def home_settlements_of(self, person_id: int) -> list[HomeSettlementRecord]: ...

    def home_settlement(
        self, visit_region: str, settlement_id: str
    ) -> HomeSettlementRecord | None: ...


class ResidentSettlementsStore(Protocol):
    def read(self) -> AbstractContextManager[ResidentSettlementsTx]: ...


def _item(record: HomeSettlementRecord) -> dict[str, Any]:
    medfee, fund, account = record.medfee_sumamt or 0, record.hifp_pay or 0, record.acct_pay or 0
    return {
        "settlement_id": record.settlement_id,
        "visit_region": record.visit_region,
        "institution_code": record.institution_code,
        "med_type": record.med_type,
        "status": record.status.value,
        "settled_on": record.settled_on,
        "medfee": medfee,
        "fund": fund,
        "account": account,
        "cash": medfee - fund - account,
        "cancelled_at": record.cancelled_at,
    }


class ResidentSettlements:
    def __init__(self, store: ResidentSettlementsStore, caller: Caller) -> None:
        self.store = store
        self.caller = caller

    def of(self, person: PersonRecord) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            return [_item(r) for r in tx.home_settlements_of(person.person_id)]

    def explained(
        self, person: PersonRecord, visit_region: str, settlement_id: str
    ) -> dict[str, Any]:
        """Someone else's settlement is SETTLEMENT_NOT_FOUND, as an unknown one."""
        with self.store.read() as tx:
            record = tx.home_settlement(visit_region, settlement_id)
        if record is None or record.person_id != person.person_id or record.split is None:
            raise NotFound("SETTLEMENT_NOT_FOUND", "no such settlement of yours")
        split = json.loads(record.split)
        lines, catalogue = self._lines(person, visit_region, settlement_id)
        if lines is not None and not lines_agree(split, lines):
            lines, catalogue = None, None  # garbled, or not this bill's: show the split alone
        return {
            **_item(record),
            "split": split,
            "lines": lines,
            "explanation": explain(split, lines, catalogue),
        }

    def _lines(
        self, person: PersonRecord, visit_region: str, settlement_id: str
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
        body = {"settlement_id": settlement_id, "pseudonym": person.pseudonym}
        try:
            answer = self.caller.call(visit_region, "lines", body)
        except (TransportError, TongbanError):
            return None, None  # the visit region is away: explain the split alone
        lines = answer.get("lines")
        catalogue = answer.get("catalogue")
        if not isinstance(lines, list):
            return None, None
        if not isinstance(catalogue, dict) or not all(
            isinstance(entry, dict) for entry in catalogue.values()
        ):
            catalogue = None
        return lines, catalogue
