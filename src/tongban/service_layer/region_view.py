"""What a region's operators read (the console's network and region views): flows, settlements,
reference data. Read-only: nothing here changes a settlement.

Personal data stays masked: the visit node only ever stored the masked ID number and name of a
patient from elsewhere (``visits.masked_id``), and that is all these views show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from tongban.domain.catalogue import CatalogueItem
from tongban.domain.money import format_ratio
from tongban.domain.policy import Policy
from tongban.errors import InvalidInput, NotFound
from tongban.service_layer.records import InstitutionRecord, VisitStatus

MAX_FLOW_DAYS = 366
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class FlowRow:
    """Settlements at this (visit) node for one day, home region, status and refusal code."""

    day: date
    home_region: str
    status: str
    error_code: str | None
    count: int
    medfee: int
    fund: int
    account: int
    cash: int


@dataclass(frozen=True, slots=True)
class SettlementSearch:
    settlement_id: str | None = None
    institution: str | None = None
    day: date | None = None
    status: VisitStatus | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SettlementRow:
    settlement_id: str
    status: str
    institution_code: str
    institution_name: str | None
    home_region: str
    settled_on: date
    masked_id: str
    masked_name: str
    med_type: str
    medfee: int
    fund: int | None
    account: int | None
    cash: int | None
    error_code: str | None


class RegionViewTx(Protocol):
    """The read queries this view needs (``NodeTransaction`` provides them)."""

    def flow_rows(self, from_date: date, to_date: date) -> list[FlowRow]: ...

    def find_settlements(self, search: SettlementSearch) -> tuple[int, list[SettlementRow]]: ...

    def settlement_row(self, settlement_id: str) -> SettlementRow | None: ...

    def settlement_detail(self, settlement_id: str) -> dict[str, Any] | None: ...

    def institutions(self) -> list[InstitutionRecord]: ...


class RegionViewStore(Protocol):
    def read(self) -> AbstractContextManager[RegionViewTx]: ...


def check_range(from_date: date, to_date: date) -> None:
    if to_date < from_date:
        raise InvalidInput("BAD_DATE_RANGE", "to_date is before from_date")
    if to_date - from_date > timedelta(days=MAX_FLOW_DAYS - 1):
        raise InvalidInput("BAD_DATE_RANGE", f"at most {MAX_FLOW_DAYS} days at once")


def policy_out(policy: Policy) -> dict[str, Any]:
    r = policy.reduction
    return {
        "insutype": policy.insutype,
        "med_type": policy.med_type.value,
        "level": policy.level,
        "deductible": policy.deductible,
        "deductible_subsequent": policy.deductible_subsequent,
        "ratio": format_ratio(policy.ratio),
        "annual_cap": policy.annual_cap,
        "reduction": {
            "referral": format_ratio(r.referral),
            "emergency": format_ratio(r.emergency),
            "other": format_ratio(r.other),
            "unfiled": None if r.unfiled is None else format_ratio(r.unfiled),
        },
        "account_covers": sorted(p.value for p in policy.account_covers),
    }


def catalogue_out(item: CatalogueItem) -> dict[str, Any]:
    return {
        "code": item.code,
        "name": item.name,
        "class": item.coverage.value,
        "selfpay_ratio": format_ratio(item.selfpay_ratio),
        "price_cap": item.price_cap,
    }


class RegionView:
    """One node's read model for operators and the public reference pages."""

    def __init__(
        self,
        region: str,
        store: RegionViewStore,
        catalogue: Callable[[], Mapping[str, CatalogueItem]],
        policies: Callable[[], Mapping[tuple[str, str, int], Policy]],
    ) -> None:
        self.region = region
        self.store = store
        self._catalogue = catalogue
        self._policies = policies

    # --- operators --------------------------------------------------------------------------
    def flows(self, from_date: date, to_date: date) -> list[FlowRow]:
        check_range(from_date, to_date)
        with self.store.read() as tx:
            return tx.flow_rows(from_date, to_date)

    def settlements(self, search: SettlementSearch) -> tuple[int, list[SettlementRow]]:
        if not 1 <= search.limit <= MAX_PAGE or search.offset < 0:
            raise InvalidInput("BAD_PAGE", f"limit is 1..{MAX_PAGE}, offset ≥ 0")
        with self.store.read() as tx:
            return tx.find_settlements(search)

    def settlement(self, settlement_id: str) -> dict[str, Any]:
        with self.store.read() as tx:
            row = tx.settlement_row(settlement_id)
            detail = tx.settlement_detail(settlement_id)
        if row is None or detail is None:
            raise NotFound("SETTLEMENT_NOT_FOUND", f"no settlement {settlement_id} here")
        return {
            **row_out(row),
            "visit_id": detail["visit_id"],
            "split": json.loads(detail["split"]) if detail["split"] else None,
            "lines": json.loads(detail["lines"]),
            "error_detail": detail["error_detail"],
            "settled_at": detail["settled_at"],
            "cancelled_at": detail["cancelled_at"],
        }

    # --- reference data (published) ---------------------------------------------------------
    def policy_rows(self) -> list[dict[str, Any]]:
        return [policy_out(p) for _key, p in sorted(self._policies().items())]

    def catalogue(self, q: str | None, limit: int, offset: int) -> tuple[int, list[CatalogueItem]]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise InvalidInput("BAD_PAGE", f"limit is 1..{MAX_PAGE}, offset ≥ 0")
        needle = (q or "").strip().casefold()
        found = [
            item
            for code, item in sorted(self._catalogue().items())
            if not needle or needle in code.casefold() or needle in item.name.casefold()
        ]
        return len(found), found[offset : offset + limit]

    def institutions(self, q: str | None, enabled: bool | None) -> list[InstitutionRecord]:
        needle = (q or "").strip().casefold()
        with self.store.read() as tx:
            rows = tx.institutions()
        return [
            i
            for i in sorted(rows, key=lambda i: i.code)
            if (enabled is None or i.enabled == enabled)
            and (not needle or needle in i.code.casefold() or needle in i.name.casefold())
        ]


def row_out(row: SettlementRow) -> dict[str, Any]:
    return {
        "settlement_id": row.settlement_id,
        "status": row.status,
        "institution_code": row.institution_code,
        "institution_name": row.institution_name,
        "home_region": row.home_region,
        "settled_on": row.settled_on,
        "masked_id": row.masked_id,
        "masked_name": row.masked_name,
        "med_type": row.med_type,
        "medfee": row.medfee,
        "fund": row.fund,
        "account": row.account,
        "cash": row.cash,
        "error_code": row.error_code,
    }
