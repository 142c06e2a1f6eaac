"""What the national-interface adapter keeps: the envelopes it carried out and fee details.

Records are immutable; ``NationalTx`` is what the adapter needs of one node transaction
(``NodeTransaction`` provides it, beside everything the visit side uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tongban.service_layer.records import VisitRecord, VisitSettlementRecord


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One envelope a hospital sent that did something (or the tombstone of a reversal)."""

    msgid: str
    institution_code: str
    infno: str
    content_hash: str  # "" for a tombstone: 2601 reversed a msgid this node never saw
    mdtrt_id: str | None
    chrg_bchno: str | None
    answer: str | None  # the output answered (JSON); None while the outcome is open
    reversal: str | None  # None, "PENDING" (the home region has not answered) or "DONE"
    reversed_by: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class FeeDetailRecord:  # 费用明细, one line of a bill in the national shape
    mdtrt_id: str
    feedetl_sn: str
    institution_code: str
    chrg_bchno: str
    msgid: str  # the 2204/2301 that uploaded it
    code: str  # med_list_codg, the national catalogue code
    quantity: str  # decimal text
    unit_price: int  # fen
    amount: int  # fen
    uploaded_at: datetime


class NationalTx(Protocol):
    def national_message(self, msgid: str) -> MessageRecord | None: ...

    def add_national_message(self, record: MessageRecord) -> bool:
        """Insert unless the msgid exists; False when it did."""
        ...

    def set_national_answer(self, msgid: str, answer: str) -> None: ...

    def set_national_reversal(
        self, msgid: str, reversal: str | None, reversed_by: str | None
    ) -> None: ...

    def pending_reversals(self) -> list[MessageRecord]: ...

    def registration(self, mdtrt_id: str) -> MessageRecord | None:
        """The 2201/2401 that registered this visit, when it came through the interface."""
        ...

    def visit(self, visit_id: str) -> VisitRecord | None: ...

    def lock_visit(self, visit_id: str) -> None:
        """Claims on a visit's batches are decided one at a time (a row lock)."""
        ...

    def visit_settlement(self, settlement_id: str) -> VisitSettlementRecord | None: ...

    def batch_settlements(self, mdtrt_id: str, chrg_bchno: str) -> list[MessageRecord]:
        """The settle envelopes (2207/2304) of one fee batch, oldest first."""
        ...

    def fee_details(self, mdtrt_id: str) -> list[FeeDetailRecord]: ...

    def add_fee_details(self, records: Iterable[FeeDetailRecord]) -> list[str]:
        """Insert those not there yet; the feedetl_sn of the ones that were."""
        ...

    def delete_fee_details(self, mdtrt_id: str, feedetl_sns: Iterable[str]) -> int: ...


class NationalStore(Protocol):
    def write(self) -> AbstractContextManager[NationalTx]: ...

    def read(self) -> AbstractContextManager[NationalTx]: ...
