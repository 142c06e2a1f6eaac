"""Ports: what the services need from the outside, as protocols the adapters implement.

The service layer imports nothing from ``tongban.adapters``; the bootstrap wires real
implementations (SQLAlchemy stores, the signed exchange) into these shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from tongban.domain.catalogue import CatalogueItem
from tongban.domain.clearing import SettlementEvent
from tongban.domain.ledger import Balance, EventKind, LedgerAudit, Transfer
from tongban.domain.policy import Policy, StateDelta
from tongban.service_layer.records import (
    Accumulator,
    FilingRecord,
    HomeSettlementRecord,
    InstitutionRecord,
    PersonRecord,
    RouteTotals,
    VisitRecord,
    VisitSettlementRecord,
    VisitStatus,
)

Clock = Callable[[], datetime]  # timezone-aware "now"
PolicyTable = Mapping[tuple[str, str, int], Policy]  # (insutype, med_type, level) -> policy


@dataclass(frozen=True, slots=True)
class Message:
    """A verified inbound message (the exchange has checked signature, sender and freshness)."""

    sender: str
    recipient: str
    msgid: str
    timestamp: int  # milliseconds since the epoch
    kind: str
    body: dict[str, Any]
    in_reply_to: str | None = None


class Caller(Protocol):
    """Sends a signed request to a peer and returns its result, or raises its refusal.

    Raises ``Unavailable`` when no answer came back: the caller must treat the outcome as unknown.
    """

    def call(self, recipient: str, kind: str, body: dict[str, Any]) -> dict[str, Any]: ...


class Ledger(Protocol):
    """A double-entry book inside the current transaction."""

    def post(self, group: Sequence[Transfer], at: datetime) -> int: ...

    def balances(self, codes: Sequence[str] | None = None) -> dict[str, Balance]: ...

    def balance(self, account: str) -> Balance: ...

    def history(self, ref: str | None = None, limit: int = 1000) -> list[dict[str, Any]]: ...

    def audit(self) -> LedgerAudit: ...


class NodeTx(Protocol):
    """One transaction on a node's database."""

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def institution(self, code: str) -> InstitutionRecord | None: ...

    def institution_by_key_hash(self, key_hash: str) -> InstitutionRecord | None: ...

    def institutions(self) -> list[InstitutionRecord]: ...

    def put_institutions(self, rows: Iterable[tuple[InstitutionRecord, str | None]]) -> None: ...

    def catalogue(self) -> dict[str, CatalogueItem]: ...

    def put_catalogue(self, items: Iterable[CatalogueItem]) -> None: ...

    def policies(self) -> dict[tuple[str, str, int], Policy]: ...

    def put_policies(self, items: Iterable[Policy]) -> None: ...

    def put_persons(self, rows: Iterable[Mapping[str, Any]]) -> None: ...

    def person_by_pseudonym(self, pseudonym: str) -> PersonRecord | None: ...

    def person_by_id_number(self, id_number: str) -> PersonRecord | None: ...

    def person(self, person_id: int) -> PersonRecord | None: ...

    def accumulator(self, person_id: int, year: int, med_type: str) -> Accumulator: ...

    def apply_delta(self, person_id: int, year: int, med_type: str, delta: StateDelta) -> None: ...

    def filings_of(self, person_id: int) -> list[FilingRecord]: ...

    def filing(self, filing_id: str) -> FilingRecord | None: ...

    def add_filings(self, records: Iterable[FilingRecord]) -> None: ...

    def revoke_filing(self, filing_id: str, on: date) -> None: ...

    def home_settlement(
        self, visit_region: str, settlement_id: str
    ) -> HomeSettlementRecord | None: ...

    def claim_home_settlement(self, record: HomeSettlementRecord) -> bool: ...

    def mark_home_cancelled(self, visit_region: str, settlement_id: str, at: datetime) -> None: ...

    def log_inbound(self, msgid: str, sender: str, kind: str, at: datetime) -> None: ...

    def insert_visit(self, record: VisitRecord) -> None: ...

    def visit(self, visit_id: str) -> VisitRecord | None: ...

    def set_visit_emergency(self, visit_id: str) -> None: ...

    def visit_settlement(self, settlement_id: str) -> VisitSettlementRecord | None: ...

    def insert_visit_settlement(self, record: VisitSettlementRecord) -> bool: ...

    def update_visit_settlement(self, settlement_id: str, **values: Any) -> None: ...

    def update_visit_settlement_from(
        self, settlement_id: str, allowed: Iterable[VisitStatus], **values: Any
    ) -> bool: ...

    def unresolved_settlements(self, created_before: datetime | None) -> list[str]: ...

    def outbox_add(
        self, settlement_id: str, recipient: str, kind: str, body: str, at: datetime
    ) -> None: ...

    def outbox_answered(
        self, settlement_id: str, kind: str, outcome: str, at: datetime
    ) -> None: ...

    def located(self, pseudonym: str) -> str | None: ...

    def remember_location(self, pseudonym: str, home_region: str) -> None: ...

    def visit_lines_for(
        self, settlement_id: str, home_region: str, pseudonym: str
    ) -> str | None: ...

    def visit_totals(self, settled_on: date | None) -> list[RouteTotals]: ...

    def home_totals(self, settled_on: date | None) -> list[RouteTotals]: ...

    def count(self, table: str) -> int: ...

    # --- back office: ledger, period reports, reconciliation, statements ---------------------
    @property
    def ledger(self) -> Ledger: ...

    def post(self, transfers: Sequence[Transfer], at: datetime) -> int: ...

    def open_person_accounts(self, pseudonyms: Iterable[str], at: datetime) -> None: ...

    def settlement_events(
        self,
        role: str,
        region: str,
        event: EventKind,
        since: datetime | None,
        until: datetime,
        after: str = "",
        limit: int = 5000,
    ) -> list[SettlementEvent]: ...

    def events_of(
        self, role: str, region: str, keys: Sequence[tuple[str, str]]
    ) -> list[SettlementEvent]: ...

    def institution_events(
        self,
        institution_code: str,
        first: date,
        last: date,
        cancels_from: datetime,
        cancels_to: datetime,
    ) -> list[tuple[str, EventKind, str, int, int, int, int]]: ...

    def standing_by_account(self) -> dict[str, int]: ...

    def account_balances(self) -> dict[int, int]: ...

    def statement_answer(self, period: str) -> dict[str, Any] | None: ...

    def record_statement_answer(self, values: dict[str, Any]) -> bool: ...

    def replace_statement_answer(self, values: dict[str, Any]) -> None: ...


class NodeStore(Protocol):
    def write(self) -> AbstractContextManager[NodeTx]: ...

    def read(self) -> AbstractContextManager[NodeTx]: ...
