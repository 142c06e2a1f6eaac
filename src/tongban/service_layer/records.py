"""Stored records the services read and write (immutable; updates are new values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class VisitStatus(StrEnum):
    PENDING = "PENDING"  # written, commit in flight
    UNKNOWN = "UNKNOWN"  # the home node did not answer: to be resolved, never lost
    SETTLED = "SETTLED"
    REFUSED = "REFUSED"  # refused for a business reason: stays refused
    VOIDED = "VOIDED"  # recovery found the home never committed it; the id is spent
    CANCELLING = "CANCELLING"  # cancel in flight or unanswered: will be completed
    CANCELLED = "CANCELLED"


UNRESOLVED = (VisitStatus.PENDING, VisitStatus.UNKNOWN, VisitStatus.CANCELLING)


class HomeStatus(StrEnum):
    COMMITTED = "COMMITTED"
    CANCELLED = "CANCELLED"
    REFUSED = "REFUSED"
    ABORTED = "ABORTED"  # tombstone written by recovery: a late commit with this id is refused


@dataclass(frozen=True, slots=True)
class InstitutionRecord:
    code: str
    name: str
    level: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class PersonRecord:
    person_id: int
    id_number: str
    pseudonym: str
    name: str
    insutype: str
    account_balance: int


@dataclass(frozen=True, slots=True)
class Accumulator:
    deductible_used: int = 0
    fund_paid: int = 0
    admissions: int = 0


@dataclass(frozen=True, slots=True)
class VisitRecord:
    visit_id: str
    institution_code: str
    pseudonym: str
    masked_id: str
    masked_name: str
    home_region: str
    insutype: str
    med_type: str
    emergency: bool
    visit_date: date
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class VisitSettlementRecord:
    settlement_id: str
    visit_id: str
    institution_code: str
    home_region: str
    insutype: str
    status: VisitStatus
    content_hash: str
    commit_body: str
    lines: str
    medfee_sumamt: int
    settled_on: date
    created_at: datetime
    error_code: str | None = None
    error_detail: str | None = None
    split: str | None = None
    hifp_pay: int | None = None
    acct_pay: int | None = None
    psn_cash_pay: int | None = None
    settled_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HomeSettlementRecord:
    settlement_id: str
    visit_region: str
    status: HomeStatus
    institution_code: str | None = None
    person_id: int | None = None
    med_type: str | None = None
    year: int | None = None
    content_hash: str | None = None
    error_code: str | None = None
    split: str | None = None
    delta: str | None = None
    hifp_pay: int | None = None
    acct_pay: int | None = None
    medfee_sumamt: int | None = None
    settled_on: date | None = None
    committed_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FilingRecord:
    filing_id: str
    person_id: int
    kind: str
    target_region: str
    start_date: date
    end_date: date | None
    revoked_on: date | None
    commitment: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RouteTotals:
    """Sums over settlements between this node and one other region, for one status."""

    other_region: str
    status: str
    count: int
    medfee_sumamt: int
    hifp_pay: int
    acct_pay: int
    psn_cash_pay: int
