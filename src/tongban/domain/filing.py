"""Filings (备案): which filing covers a visit, and in which category (DESIGN.md §4.4).

Long-term filings (异地安置退休, 异地长期居住, 常驻异地工作) are valid until revoked; temporary
ones (转诊, 急诊抢救, 其他临时外出) from a start date for at least 6 months (default 6).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tongban.domain.policy import FilingCategory
from tongban.domain.regions import covers
from tongban.errors import InvalidInput

MIN_TEMPORARY_MONTHS = 6


class FilingKind(StrEnum):
    RETIRED_RESETTLED = "retired_resettled"  # 异地安置退休
    LONG_TERM_RESIDENT = "long_term_resident"  # 异地长期居住
    POSTED_WORKER = "posted_worker"  # 常驻异地工作
    REFERRAL = "referral"  # 转诊转院
    EMERGENCY = "emergency"  # 急诊抢救
    OTHER = "other"  # 其他临时外出就医

    @property
    def category(self) -> FilingCategory:
        return _CATEGORY[self]

    @property
    def is_long_term(self) -> bool:
        return self.category is FilingCategory.LONG_TERM


_CATEGORY = {
    FilingKind.RETIRED_RESETTLED: FilingCategory.LONG_TERM,
    FilingKind.LONG_TERM_RESIDENT: FilingCategory.LONG_TERM,
    FilingKind.POSTED_WORKER: FilingCategory.LONG_TERM,
    FilingKind.REFERRAL: FilingCategory.REFERRAL,
    FilingKind.EMERGENCY: FilingCategory.EMERGENCY,
    FilingKind.OTHER: FilingCategory.OTHER,
}


@dataclass(frozen=True, slots=True)
class Filing:
    filing_id: str
    kind: FilingKind
    target_region: str  # a city code, or a province code covering all its cities
    start_date: date
    end_date: date | None  # exclusive; None for long-term filings
    revoked_on: date | None = None

    def is_active(self, on: date) -> bool:
        if on < self.start_date:
            return False
        if self.revoked_on is not None and on >= self.revoked_on:
            return False
        return self.end_date is None or on < self.end_date

    def covers_visit(self, visit_region: str, on: date) -> bool:
        return self.is_active(on) and covers(self.target_region, visit_region)


def add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the end of a shorter month."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def validity_end(kind: FilingKind, start: date, months: int | None) -> date | None:
    """End date (exclusive) of a new filing; long-term filings have none."""
    if kind.is_long_term:
        if months is not None:
            raise InvalidInput(
                "INVALID_FILING", "long-term filings are valid until revoked: give no months"
            )
        return None
    months = MIN_TEMPORARY_MONTHS if months is None else months
    if months < MIN_TEMPORARY_MONTHS:
        raise InvalidInput(
            "INVALID_FILING",
            f"a temporary filing is valid for at least {MIN_TEMPORARY_MONTHS} months",
        )
    try:
        return add_months(start, months)
    except ValueError:  # past 9999-12-31: no calendar (nor database) holds that end
        raise InvalidInput(
            "INVALID_FILING", f"a filing from {start} for {months} months ends past year 9999"
        ) from None


def visit_categories(
    filings: Iterable[Filing], visit_region: str, on: date, emergency: bool
) -> set[FilingCategory]:
    """Every category this visit qualifies for; empty means unfiled.

    A visit the hospital flags as emergency counts as ``emergency`` even without a filing.
    """
    found = {f.kind.category for f in filings if f.covers_visit(visit_region, on)}
    if emergency:
        found.add(FilingCategory.EMERGENCY)
    return found
