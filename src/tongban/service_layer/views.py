"""What the visit node answers the hospital: visits, previews, settlements, recovery reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tongban.domain.identifiers import ResidentId
from tongban.service_layer.records import VisitRecord, VisitSettlementRecord, VisitStatus


@dataclass(frozen=True, slots=True)
class VisitView:
    visit_id: str
    institution_code: str
    home_region: str
    insutype: str
    med_type: str
    emergency: bool
    visit_date: date
    masked_id: str
    masked_name: str
    filed: tuple[str, ...] = ()

    @staticmethod
    def of(record: VisitRecord, filed: tuple[str, ...]) -> VisitView:
        return VisitView(
            visit_id=record.visit_id,
            institution_code=record.institution_code,
            home_region=record.home_region,
            insutype=record.insutype,
            med_type=record.med_type,
            emergency=record.emergency,
            visit_date=record.visit_date,
            masked_id=record.masked_id,
            masked_name=record.masked_name,
            filed=filed,
        )


@dataclass(frozen=True, slots=True)
class PersonAtHome:
    """A person as the visit node learns of her from her home region (人员信息, masked)."""

    resident: ResidentId
    pseudonym: str
    home_region: str
    insutype: str
    masked_id: str
    masked_name: str
    filed: tuple[str, ...]  # filing categories covering this region today
    account_balance: int | None  # fen; None when the home region does not say


@dataclass(frozen=True, slots=True)
class Preview:
    visit_id: str
    split: dict[str, Any]
    filing: str
    lines: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SettlementView:
    settlement_id: str
    status: VisitStatus
    visit_id: str
    institution_code: str
    home_region: str
    settled_on: date
    split: dict[str, Any] | None
    lines: list[dict[str, Any]]
    error_code: str | None = None
    error_detail: str | None = None
    settled_at: datetime | None = None
    cancelled_at: datetime | None = None

    @staticmethod
    def of(record: VisitSettlementRecord) -> SettlementView:
        return SettlementView(
            settlement_id=record.settlement_id,
            status=record.status
            if isinstance(record.status, VisitStatus)
            else VisitStatus(record.status),
            visit_id=record.visit_id,
            institution_code=record.institution_code,
            home_region=record.home_region,
            settled_on=record.settled_on,
            split=json.loads(record.split) if record.split else None,
            lines=json.loads(record.lines),
            error_code=record.error_code,
            error_detail=record.error_detail,
            settled_at=record.settled_at,
            cancelled_at=record.cancelled_at,
        )


@dataclass
class RecoveryReport:
    settled: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    still_unknown: list[str] = field(default_factory=list)
