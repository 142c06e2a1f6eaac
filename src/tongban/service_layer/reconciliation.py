"""Daily reconciliation (对账) for a hospital at its visit node: totals (3201) and detail (3202).

A read: nothing is changed. An institution reconciles only itself (the API key binds it).
Its events over [from_date, to_date] (Shanghai dates) are: a *settle* per settlement settled
on one of those days that the home committed (SETTLED, CANCELLING or CANCELLED), and a
*cancel* per CANCELLED settlement whose cancel moment falls on one of them. Settlements the
node does not know the end of yet (a commit or cancel the home has not answered) are in no
total: they are listed as ``unresolved``, so the hospital sees what it is waiting on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tongban.domain import reconciliation as rec
from tongban.domain.calendar import SHANGHAI
from tongban.domain.ledger import EventKind
from tongban.domain.reconciliation import EventLine, Totals
from tongban.errors import Forbidden
from tongban.service_layer.ports import Clock, NodeStore


# --- commands ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReconcileTotals:  # 对账 (national 3201)
    from_date: date
    to_date: date
    totals: tuple[tuple[str, Totals], ...]  # the hospital's, per insutype
    institution_code: str | None = None  # optional; when given it must be the caller's own


@dataclass(frozen=True, slots=True)
class ReconcileDetail:  # 明细对账 (national 3202)
    from_date: date
    to_date: date
    lines: tuple[EventLine, ...]  # the hospital's events in the range
    institution_code: str | None = None


# --- answers -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TotalsView:
    count: int  # settle_count − cancel_count
    settle_count: int
    cancel_count: int
    medfee_sumamt: int
    fund_pay: int
    acct_pay: int

    @staticmethod
    def of(totals: Totals) -> TotalsView:
        return TotalsView(
            totals.count,
            totals.settle_count,
            totals.cancel_count,
            totals.medfee_sumamt,
            totals.fund_pay,
            totals.acct_pay,
        )


@dataclass(frozen=True, slots=True)
class InsutypeView:
    insutype: str
    balanced: bool
    node: TotalsView
    hospital: TotalsView


@dataclass(frozen=True, slots=True)
class UnresolvedView:
    settlement_id: str
    event: str
    insutype: str
    medfee_sumamt: int


@dataclass(frozen=True, slots=True)
class TotalsAnswer:
    institution_code: str
    from_date: date
    to_date: date
    as_of: datetime  # the node's answer is a snapshot: unresolved ones may still land
    balanced: bool
    node: TotalsView
    hospital: TotalsView
    insutypes: tuple[InsutypeView, ...]
    unresolved: tuple[UnresolvedView, ...]


@dataclass(frozen=True, slots=True)
class LineView:
    insutype: str
    medfee_sumamt: int
    fund_pay: int
    acct_pay: int

    @staticmethod
    def of(line: EventLine | None) -> LineView | None:
        if line is None:
            return None
        return LineView(line.insutype, line.medfee_sumamt, line.fund_pay, line.acct_pay)


@dataclass(frozen=True, slots=True)
class DifferenceView:
    settlement_id: str
    event: str
    kind: str  # MISSING_AT_NODE, MISSING_AT_HOSPITAL, DIFFERS, UNRESOLVED_AT_NODE
    fields: tuple[str, ...]
    node: LineView | None
    hospital: LineView | None


@dataclass(frozen=True, slots=True)
class DetailAnswer:
    institution_code: str
    from_date: date
    to_date: date
    as_of: datetime
    balanced: bool
    node_lines: int
    hospital_lines: int
    matched: int
    differences: tuple[DifferenceView, ...]
    unresolved: tuple[UnresolvedView, ...]


@dataclass(frozen=True, slots=True)
class _NodeEvents:
    final: list[EventLine]
    unresolved: list[EventLine]


class Reconciliation:
    def __init__(self, region: str, store: NodeStore, clock: Clock) -> None:
        self.region = region
        self.store = store
        self.clock = clock

    def totals(self, command: ReconcileTotals, acting_for: str) -> TotalsAnswer:
        """Both sides' totals per insutype; balanced when every figure is equal."""
        _own(command.institution_code, acting_for)
        rec.check_range(command.from_date, command.to_date)
        hospital = rec.hospital_totals(command.totals)
        events = self._events(acting_for, command.from_date, command.to_date)
        compared = rec.compare_totals(rec.totals_by_insutype(events.final), hospital)
        return TotalsAnswer(
            institution_code=acting_for,
            from_date=command.from_date,
            to_date=command.to_date,
            as_of=self.clock(),
            balanced=all(c.balanced for c in compared),
            node=TotalsView.of(sum((c.node for c in compared), Totals())),
            hospital=TotalsView.of(sum((c.hospital for c in compared), Totals())),
            insutypes=tuple(
                InsutypeView(
                    c.insutype, c.balanced, TotalsView.of(c.node), TotalsView.of(c.hospital)
                )
                for c in compared
            ),
            unresolved=_unresolved(events.unresolved),
        )

    def detail(self, command: ReconcileDetail, acting_for: str) -> DetailAnswer:
        """Each (settlement id, event) the two lists disagree on, and why."""
        _own(command.institution_code, acting_for)
        rec.check_range(command.from_date, command.to_date)
        rec.check_listing(command.lines)
        events = self._events(acting_for, command.from_date, command.to_date)
        differences = rec.compare_lines(events.final, command.lines, events.unresolved)
        # Node events the hospital lists with the same content.
        unmatched = (rec.Difference.MISSING_AT_HOSPITAL, rec.Difference.DIFFERS)
        matched = len(events.final) - sum(d.kind in unmatched for d in differences)
        return DetailAnswer(
            institution_code=acting_for,
            from_date=command.from_date,
            to_date=command.to_date,
            as_of=self.clock(),
            balanced=not differences,
            node_lines=len(events.final),
            hospital_lines=len(command.lines),
            matched=matched,
            differences=tuple(
                DifferenceView(
                    d.settlement_id,
                    d.event.value,
                    d.kind.value,
                    d.fields,
                    LineView.of(d.node),
                    LineView.of(d.hospital),
                )
                for d in differences
            ),
            unresolved=_unresolved(events.unresolved),
        )

    def _events(self, institution_code: str, first: date, last: date) -> _NodeEvents:
        # Cancels are kept by their UTC moment: the range's Shanghai days as UTC bounds.
        since = datetime.combine(first, time(), tzinfo=SHANGHAI)
        until = datetime.combine(last + timedelta(days=1), time(), tzinfo=SHANGHAI)
        with self.store.read() as tx:
            rows = tx.institution_events(institution_code, first, last, since, until)
        out = _NodeEvents([], [])
        for sid, event, insutype, medfee, fund, account, final in rows:
            line = EventLine(sid, EventKind(event), insutype, medfee, fund, account)
            (out.final if final else out.unresolved).append(line)
        return out


def _own(institution_code: str | None, acting_for: str) -> None:
    if institution_code is not None and institution_code != acting_for:
        raise Forbidden(
            "INSTITUTION_MISMATCH", f"you are authenticated as {acting_for}: reconcile only it"
        )


def _unresolved(lines: list[EventLine]) -> tuple[UnresolvedView, ...]:
    return tuple(
        UnresolvedView(line.settlement_id, line.event.value, line.insutype, line.medfee_sumamt)
        for line in sorted(lines, key=lambda line: rec.event_order(line.key))
    )
