"""The hub's clearing storage: periods, stored reports, exceptions, obligations, statements,
and the hub's ledger (reserves).

Each use-case step is one transaction here, so a crash between steps leaves either the old
state or the new one, never half a clearing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tongban.adapters.storage import schema as t
from tongban.adapters.storage.database import Database, read_moment, stored_moment
from tongban.adapters.storage.ledger_store import LedgerBook
from tongban.domain.clearing import MatchException, Obligation, SettlementEvent
from tongban.domain.ledger import Balance, EventKind, LedgerAudit, Transfer
from tongban.service_layer import wire

_e = t.clearing_exceptions.c
BATCH = 5000


def event_json(event: SettlementEvent | None) -> str | None:
    return None if event is None else json.dumps(wire.event_to_json(event))


@dataclass(frozen=True, slots=True)
class PeriodRecord:
    period: str
    status: str  # CLEARED or CLOSED
    window_from: datetime | None
    window_to: datetime
    matched_events: int
    cleared_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    visit_region: str
    settlement_id: str
    event: str
    found_in: str
    kind: str
    visit_view: dict[str, Any] | None
    home_view: dict[str, Any] | None
    status: str  # OPEN or RESOLVED
    resolution: str | None
    note: str | None
    cleared_in: str | None
    home_region: str | None
    medfee_sumamt: int | None
    hifp_pay: int | None
    acct_pay: int | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.visit_region, self.settlement_id, self.event)

    @property
    def parties(self) -> tuple[str, str]:
        """(visit region, home region) as either side reported it."""
        view = self.visit_view or self.home_view or {}
        return self.visit_region, str(view.get("home_region", self.home_region or ""))


def _exception(row: Any) -> ExceptionRecord:
    data = dict(row._mapping)
    for side in ("visit_view", "home_view"):
        data[side] = json.loads(data[side]) if data[side] else None
    for drop in ("resolved_at",):
        data.pop(drop)
    return ExceptionRecord(**data)


def _period(row: Any) -> PeriodRecord:
    data = dict(row._mapping)
    for name in ("window_from", "window_to", "cleared_at", "closed_at"):
        data[name] = data[name] and read_moment(data[name])
    return PeriodRecord(**data)


class ClearingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def url(self) -> str:
        return self.db.url

    # --- periods --------------------------------------------------------------------------
    def period(self, period: str) -> PeriodRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.periods).where(t.periods.c.period == period)).first()
        return _period(row) if row else None

    def periods(self) -> list[PeriodRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.periods).order_by(t.periods.c.period)).all()
        return [_period(r) for r in rows]

    # --- reports --------------------------------------------------------------------------
    def forget_reports(self, period: str) -> None:
        """A period being cleared again takes fresh reports from every node."""
        with self.db.write() as conn:
            conn.execute(delete(t.report_events).where(t.report_events.c.period == period))
            conn.execute(delete(t.report_receipts).where(t.report_receipts.c.period == period))

    def store_report(
        self,
        period: str,
        region: str,
        side: str,
        events: Sequence[SettlementEvent],
        digest: str,
        at: datetime,
    ) -> None:
        rows = [
            {
                "period": period,
                "side": side,
                "visit_region": e.visit_region,
                "settlement_id": e.settlement_id,
                "event": e.event.value,
                "home_region": e.home_region,
                "institution_code": e.institution_code,
                "occurred_at": stored_moment(e.occurred_at),
                "medfee_sumamt": e.medfee_sumamt,
                "hifp_pay": e.hifp_pay,
                "acct_pay": e.acct_pay,
            }
            for e in events
        ]
        with self.db.write() as conn:
            for start in range(0, len(rows), BATCH):
                conn.execute(insert(t.report_events), rows[start : start + BATCH])
            conn.execute(
                insert(t.report_receipts),
                {
                    "period": period,
                    "region": region,
                    "side": side,
                    "events": len(rows),
                    "digest": digest,
                    "received_at": at,
                },
            )

    def report_views(self, period: str) -> tuple[list[SettlementEvent], list[SettlementEvent]]:
        """A period's stored reports as events, (visit view, home view): for the reference
        matcher on small networks (the columnar engine reads them itself)."""
        views: dict[str, list[SettlementEvent]] = {"visit": [], "home": []}
        r = t.report_events.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.report_events)
                .where(r.period == period)
                .order_by(r.side, r.visit_region, r.settlement_id, r.event)
            ).all()
        for row in rows:
            views[row.side].append(
                SettlementEvent(
                    visit_region=row.visit_region,
                    settlement_id=row.settlement_id,
                    event=EventKind(row.event),
                    home_region=row.home_region,
                    institution_code=row.institution_code,
                    occurred_at=read_moment(row.occurred_at),
                    medfee_sumamt=row.medfee_sumamt,
                    hifp_pay=row.hifp_pay,
                    acct_pay=row.acct_pay,
                )
            )
        return views["visit"], views["home"]

    def receipts(self, period: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.report_receipts).where(t.report_receipts.c.period == period)
            ).all()
        return [dict(r._mapping) for r in rows]

    # --- exceptions -----------------------------------------------------------------------
    def exceptions(
        self, status: str | None = None, found_in: str | None = None
    ) -> list[ExceptionRecord]:
        query = select(t.clearing_exceptions).order_by(
            _e.found_in, _e.visit_region, _e.settlement_id, _e.event
        )
        if status is not None:
            query = query.where(_e.status == status)
        if found_in is not None:
            query = query.where(_e.found_in == found_in)
        with self.db.read() as conn:
            return [_exception(r) for r in conn.execute(query)]

    def exception(self, key: tuple[str, str, str]) -> ExceptionRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.clearing_exceptions).where(*_key(key))).first()
        return _exception(row) if row else None

    def resolve_exception(
        self,
        key: tuple[str, str, str],
        resolution: str,
        note: str,
        accepted: SettlementEvent | None,
        at: datetime,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.clearing_exceptions)
                .where(*_key(key), _e.status == "OPEN")
                .values(**_resolution(resolution, note, accepted, at))
            )

    # --- the clearing itself --------------------------------------------------------------
    def save_clearing(
        self,
        record: PeriodRecord,
        obligations: Iterable[Obligation],
        found: Iterable[MatchException],
        matched_later: Iterable[MatchException | SettlementEvent],
        still_open: Iterable[MatchException],
        carried: Iterable[tuple[str, str, str]],
        statements: Iterable[dict[str, Any]],
    ) -> None:
        """Write one clearing run (replacing an earlier run of the same, unclosed period)."""
        p = record.period
        with self.db.write() as conn:
            self._undo_run(conn, p)
            conn.execute(
                insert(t.periods),
                {
                    "period": p,
                    "status": record.status,
                    "window_from": record.window_from and stored_moment(record.window_from),
                    "window_to": stored_moment(record.window_to),
                    "matched_events": record.matched_events,
                    "cleared_at": stored_moment(record.cleared_at),
                    "closed_at": None,
                },
            )
            rows = [
                {
                    "period": p,
                    "home_region": o.home_region,
                    "visit_region": o.visit_region,
                    "events": o.events,
                    "medfee_sumamt": o.medfee_sumamt,
                    "hifp_pay": o.hifp_pay,
                    "acct_pay": o.acct_pay,
                }
                for o in obligations
            ]
            if rows:
                conn.execute(insert(t.obligations), rows)
            for x in found:
                conn.execute(
                    insert(t.clearing_exceptions),
                    {
                        "visit_region": x.key[0],
                        "settlement_id": x.key[1],
                        "event": x.key[2],
                        "found_in": p,
                        "kind": x.kind.value,
                        "visit_view": event_json(x.visit),
                        "home_view": event_json(x.home),
                        "status": "OPEN",
                    },
                )
            for item in matched_later:
                event = item if isinstance(item, SettlementEvent) else item.visit
                assert event is not None
                conn.execute(
                    update(t.clearing_exceptions)
                    .where(*_key(event.key))
                    .values(
                        **_resolution(
                            "MATCHED_LATER",
                            "both sides agree after recovery",
                            event,
                            record.cleared_at,
                        ),
                        cleared_in=p,
                    )
                )
            for x in still_open:
                conn.execute(
                    update(t.clearing_exceptions)
                    .where(*_key(x.key))
                    .values(
                        kind=x.kind.value,
                        visit_view=event_json(x.visit),
                        home_view=event_json(x.home),
                    )
                )
            for key in carried:
                conn.execute(update(t.clearing_exceptions).where(*_key(key)).values(cleared_in=p))
            for s in statements:
                conn.execute(insert(t.statements), {"period": p, "status": "ISSUED", **s})

    def _undo_run(self, conn: Connection, period: str) -> None:
        conn.execute(delete(t.periods).where(t.periods.c.period == period))
        conn.execute(delete(t.obligations).where(t.obligations.c.period == period))
        conn.execute(delete(t.statements).where(t.statements.c.period == period))
        conn.execute(
            delete(t.clearing_exceptions).where(_e.found_in == period, _e.status == "OPEN")
        )
        conn.execute(
            update(t.clearing_exceptions)
            .where(_e.cleared_in == period, _e.resolution == "MATCHED_LATER")
            .values(
                status="OPEN",
                resolution=None,
                note=None,
                resolved_at=None,
                cleared_in=None,
                home_region=None,
                medfee_sumamt=None,
                hifp_pay=None,
                acct_pay=None,
            )
        )
        conn.execute(
            update(t.clearing_exceptions).where(_e.cleared_in == period).values(cleared_in=None)
        )

    def obligations(self, period: str) -> list[Obligation]:
        o = t.obligations.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    o.home_region, o.visit_region, o.events, o.medfee_sumamt, o.hifp_pay, o.acct_pay
                )
                .where(o.period == period)
                .order_by(o.home_region, o.visit_region)
            ).all()
        return [Obligation(*r) for r in rows]

    # --- statements -----------------------------------------------------------------------
    def statements(self, period: str | None = None) -> list[dict[str, Any]]:
        s = t.statements.c
        query = select(t.statements).order_by(s.period, s.region)
        if period is not None:
            query = query.where(s.period == period)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def record_answer(
        self,
        period: str,
        region: str,
        digest: str,
        status: str,
        reason: str | None,
        at: datetime,
    ) -> bool:
        """The node's answer to the statement it was sent; False if that statement is gone."""
        s = t.statements.c
        with self.db.write() as conn:
            done = conn.execute(
                update(t.statements)
                .where(s.period == period, s.region == region, s.digest == digest)
                .values(status=status, reason=reason, answered_at=stored_moment(at))
            )
        return bool(done.rowcount)

    def close(self, period: str, transfers: Sequence[Transfer], at: datetime) -> None:
        """Close a period and move the reserves, together or not at all."""
        with self.db.write() as conn:
            LedgerBook(conn, t.hub_ledger_accounts, t.hub_ledger_transfers).post(transfers, at)
            conn.execute(
                update(t.periods)
                .where(t.periods.c.period == period)
                .values(status="CLOSED", closed_at=stored_moment(at))
            )

    # --- the hub's ledger -----------------------------------------------------------------
    def post(self, transfers: Sequence[Transfer], at: datetime) -> int:
        with self.db.write() as conn:
            return LedgerBook(conn, t.hub_ledger_accounts, t.hub_ledger_transfers).post(
                transfers, at
            )

    def balances(self) -> dict[str, Balance]:
        with self.db.read() as conn:
            return LedgerBook(conn, t.hub_ledger_accounts, t.hub_ledger_transfers).balances()

    def transfers(self, ref: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            book = LedgerBook(conn, t.hub_ledger_accounts, t.hub_ledger_transfers)
            return book.history(ref, limit=1_000_000)

    def audit(self) -> LedgerAudit:
        with self.db.read() as conn:
            return LedgerBook(conn, t.hub_ledger_accounts, t.hub_ledger_transfers).audit()


def _key(key: tuple[str, str, str]) -> tuple[Any, ...]:
    return (_e.visit_region == key[0], _e.settlement_id == key[1], _e.event == key[2])


def _resolution(
    resolution: str, note: str, accepted: SettlementEvent | None, at: datetime
) -> dict[str, Any]:
    return {
        "status": "RESOLVED",
        "resolution": resolution,
        "note": note,
        "resolved_at": stored_moment(at),
        "home_region": accepted.home_region if accepted else None,
        "medfee_sumamt": accepted.medfee_sumamt if accepted else None,
        "hifp_pay": accepted.hifp_pay if accepted else None,
        "acct_pay": accepted.acct_pay if accepted else None,
    }
