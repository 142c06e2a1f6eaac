"""Monthly clearing (清算) between regions: periods, matching, obligations and net positions.

DESIGN.md §4.6. The hub receives two views of every settlement event: the visit node's (its
institutions treated another region's insured) and the home node's (its insured were treated
elsewhere). It matches them by (visit region, settlement id, event). Matched and equal events
make the obligations; anything else is an exception, held out until explained.

This module is the reference: row at a time, obvious, used by the tests and for small inputs.
The columnar engine in ``tongban.adapters.columnar`` must give exactly the same answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tongban.domain.calendar import SHANGHAI, in_shanghai
from tongban.domain.ledger import EventKind
from tongban.errors import InvalidInput

_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # ASCII digits only


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A calendar month, the unit of clearing (settle counts +, cancel counts −)."""

    year: int
    month: int

    @staticmethod
    def parse(text: object) -> Period:
        match = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match or not 2000 <= int(match.group(1)) <= 2999:
            raise InvalidInput("INVALID_PERIOD", f"a period is YYYY-MM, got {text!r}")
        return Period(int(match.group(1)), int(match.group(2)))

    @staticmethod
    def of(moment: datetime) -> Period:
        local = in_shanghai(moment)
        return Period(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def starts_at(self) -> datetime:
        """00:00 in Shanghai on the first of the month."""
        return datetime(self.year, self.month, 1, tzinfo=SHANGHAI)

    @property
    def ends_at(self) -> datetime:
        return self.next().starts_at


def window_end(period: Period, now: datetime) -> datetime:
    """Where a clearing run of ``period`` stops taking events.

    Normally the end of the month. A period cleared before its month is over (the demo closes
    the day it simulated) stops at the moment of the run; the rest of the month's events then
    fall into the next period's window, so a late cancel is cleared next month, never lost.
    """
    return min(now, period.ends_at)


class ExceptionKind(StrEnum):
    VISIT_ONLY = "VISIT_ONLY"  # the visit node reports it, the home node does not
    HOME_ONLY = "HOME_ONLY"
    DIFFERS = "DIFFERS"  # both report it, with different amounts or parties


@dataclass(frozen=True, slots=True)
class SettlementEvent:
    """One side's view of a settle or cancel event; amounts are positive fen."""

    visit_region: str
    settlement_id: str
    event: EventKind
    home_region: str
    institution_code: str
    occurred_at: datetime  # the home node's moment of commit or cancel, which both sides keep
    medfee_sumamt: int
    hifp_pay: int
    acct_pay: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.visit_region, self.settlement_id, self.event.value)

    def agrees_with(self, other: SettlementEvent) -> bool:
        return (
            self.home_region == other.home_region
            and self.institution_code == other.institution_code
            and self.medfee_sumamt == other.medfee_sumamt
            and self.hifp_pay == other.hifp_pay
            and self.acct_pay == other.acct_pay
        )


@dataclass(frozen=True, slots=True)
class MatchException:
    kind: ExceptionKind
    visit: SettlementEvent | None
    home: SettlementEvent | None

    @property
    def key(self) -> tuple[str, str, str]:
        either = self.visit or self.home
        assert either is not None
        return either.key


@dataclass(frozen=True, slots=True)
class Obligation:
    """What ``home_region`` owes ``visit_region`` for matched events (signed: cancels subtract)."""

    home_region: str
    visit_region: str
    events: int
    medfee_sumamt: int
    hifp_pay: int
    acct_pay: int

    @property
    def amount(self) -> int:
        """The money that moves: the fund's share plus the personal account's (DESIGN §4.6)."""
        return self.hifp_pay + self.acct_pay


@dataclass(frozen=True, slots=True)
class MatchResult:
    matched: int
    obligations: tuple[Obligation, ...]
    exceptions: tuple[MatchException, ...]


def match_events(
    visit_view: Iterable[SettlementEvent], home_view: Iterable[SettlementEvent]
) -> MatchResult:
    """Match the two views by key; equal pairs make obligations, the rest are exceptions."""
    visits = _by_key(visit_view, "visit")
    homes = _by_key(home_view, "home")
    matched: list[SettlementEvent] = []
    exceptions: list[MatchException] = []
    for key in sorted(visits.keys() | homes.keys()):
        v, h = visits.get(key), homes.get(key)
        if v is None:
            exceptions.append(MatchException(ExceptionKind.HOME_ONLY, None, h))
        elif h is None:
            exceptions.append(MatchException(ExceptionKind.VISIT_ONLY, v, None))
        elif v.agrees_with(h):
            matched.append(v)
        else:
            exceptions.append(MatchException(ExceptionKind.DIFFERS, v, h))
    return MatchResult(len(matched), tuple(obligations_of(matched)), tuple(exceptions))


def _by_key(
    events: Iterable[SettlementEvent], side: str
) -> dict[tuple[str, str, str], SettlementEvent]:
    out: dict[tuple[str, str, str], SettlementEvent] = {}
    for e in events:
        if e.key in out:
            raise InvalidInput("DUPLICATE_EVENT", f"the {side} view lists {e.key} twice")
        out[e.key] = e
    return out


def obligations_of(events: Iterable[SettlementEvent]) -> list[Obligation]:
    """Sum events (settle +, cancel −) per (home, visit) pair, sorted by pair."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        s = sums[(e.home_region, e.visit_region)]
        sign = e.event.sign
        s[0] += sign
        s[1] += sign * e.medfee_sumamt
        s[2] += sign * e.hifp_pay
        s[3] += sign * e.acct_pay
    return [Obligation(h, v, *s) for (h, v), s in sorted(sums.items())]


def merge_obligations(*groups: Iterable[Obligation]) -> list[Obligation]:
    """Add obligations of the same pair (this period's matches plus carried resolutions)."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for group in groups:
        for o in group:
            s = sums[(o.home_region, o.visit_region)]
            s[0] += o.events
            s[1] += o.medfee_sumamt
            s[2] += o.hifp_pay
            s[3] += o.acct_pay
    return [Obligation(h, v, *s) for (h, v), s in sorted(sums.items())]


class NettingError(AssertionError):
    """Net positions that do not sum to zero: a bug, never a business outcome."""


def net_positions(obligations: Iterable[Obligation]) -> dict[str, int]:
    """Net position of each region: owed to it minus owed by it (多边轧差). Σ = 0, checked."""
    net: dict[str, int] = defaultdict(int)
    for o in obligations:
        if o.home_region == o.visit_region:
            continue  # a region does not owe itself
        net[o.visit_region] += o.amount
        net[o.home_region] -= o.amount
    if sum(net.values()) != 0:
        raise NettingError(f"net positions sum to {sum(net.values())}, not 0")
    return dict(sorted(net.items()))


# --- reserves (预付金) -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReserveAlert:
    region: str
    balance: int
    monthly_average: int
    months_covered: Decimal | None  # None when the region pays nothing on average
    threshold_months: Decimal

    @property
    def message(self) -> str:
        covered = "n/a" if self.months_covered is None else f"{self.months_covered:.1f}"
        return (
            f"reserve of {self.region} covers {covered} months of average payments,"
            f" below {self.threshold_months}"
        )


def reserve_alerts(
    balances: Mapping[str, int],
    monthly_payments: Mapping[str, Iterable[int]],
    threshold_months: Decimal,
) -> list[ReserveAlert]:
    """Regions whose reserve is below ``threshold_months`` × their average monthly payment.

    A month's payment is what the region paid out as a net payer in that period (0 when it was
    a net receiver). A negative reserve always alerts.
    """
    alerts = []
    for region, balance in sorted(balances.items()):
        paid = [max(p, 0) for p in monthly_payments.get(region, ())]
        average = sum(paid) // len(paid) if paid else 0
        covered = (
            (Decimal(balance) / Decimal(average)).quantize(Decimal("0.01")) if average else None
        )
        if balance < 0 or (average and Decimal(balance) < threshold_months * average):
            alerts.append(ReserveAlert(region, balance, average, covered, threshold_months))
    return alerts
