"""What the hub's clearing needs from storage, and the records it reads and returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tongban.domain.clearing import Obligation, ReserveAlert, SettlementEvent
from tongban.domain.ledger import Balance, LedgerAudit, Transfer

Progress = Callable[[str, int, int], None]  # (what, done, total)
Key = tuple[str, str, str]  # (visit region, settlement id, event)


class ClearingStorePort(Protocol):
    def period(self, period: str) -> Any: ...
    def periods(self) -> list[Any]: ...
    def forget_reports(self, period: str) -> None: ...
    def store_report(
        self,
        period: str,
        region: str,
        side: str,
        events: Sequence[SettlementEvent],
        digest: str,
        at: datetime,
    ) -> None: ...
    def exceptions(self, status: str | None = None, found_in: str | None = None) -> list[Any]: ...
    def exception(self, key: Key) -> Any: ...
    def resolve_exception(
        self,
        key: Key,
        resolution: str,
        note: str,
        accepted: SettlementEvent | None,
        at: datetime,
    ) -> None: ...
    def save_clearing(
        self,
        record: Any,
        obligations: Any,
        found: Any,
        matched_later: Any,
        still_open: Any,
        carried: Any,
        statements: Any,
    ) -> None: ...
    def obligations(self, period: str) -> list[Obligation]: ...
    def statements(self, period: str | None = None) -> list[dict[str, Any]]: ...
    def record_answer(
        self, period: str, region: str, digest: str, status: str, reason: str | None, at: datetime
    ) -> bool: ...
    def close(self, period: str, transfers: Sequence[Transfer], at: datetime) -> None: ...
    def post(self, transfers: Sequence[Transfer], at: datetime) -> int: ...
    def balances(self) -> dict[str, Balance]: ...
    def audit(self) -> LedgerAudit: ...


@dataclass(frozen=True, slots=True)
class PeriodRun:
    """What ``save_clearing`` stores about the run (the store's PeriodRecord has this shape)."""

    period: str
    status: str
    window_from: datetime | None
    window_to: datetime
    matched_events: int
    cleared_at: datetime
    closed_at: datetime | None = None


@dataclass
class ClearingSummary:
    period: str
    status: str
    window_from: datetime | None
    window_to: datetime
    matched: int
    obligations: list[Obligation]
    positions: dict[str, int]
    statements: dict[str, str]  # region -> ISSUED / CONFIRMED / DISPUTED
    disputes: dict[str, str]
    exceptions_found: list[Any]
    exceptions_open: int
    carried: int
    reserves: dict[str, int]
    alerts: list[ReserveAlert]
    unreachable: list[str] = field(default_factory=list)
