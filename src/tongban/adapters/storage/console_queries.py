"""Read queries behind the console's views: flows, settlement search, a resident's settlements.

Mixed into ``NodeTransaction``; implements ``service_layer.region_view.RegionViewTx`` and the
settlement part of ``service_layer.residents.ResidentTx``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tongban.adapters.storage import schema as t
from tongban.adapters.storage.database import read_moment
from tongban.adapters.storage.rows import record
from tongban.service_layer.records import HomeSettlementRecord, HomeStatus
from tongban.service_layer.region_view import FlowRow, SettlementRow, SettlementSearch

_s = t.visit_settlements.c
_v = t.visits.c
_h = t.home_settlements.c
_i = t.institutions.c


def _moment(value: datetime | None) -> datetime | None:
    return read_moment(value) if value is not None else None


def _settlement_row(r: Any) -> SettlementRow:
    return SettlementRow(
        settlement_id=r.settlement_id,
        status=r.status,
        institution_code=r.institution_code,
        institution_name=r.institution_name,
        home_region=r.home_region,
        settled_on=r.settled_on,
        masked_id=r.masked_id,
        masked_name=r.masked_name,
        med_type=r.med_type,
        medfee=r.medfee_sumamt,
        fund=r.hifp_pay,
        account=r.acct_pay,
        cash=r.psn_cash_pay,
        error_code=r.error_code,
    )


_ROW_COLUMNS = (
    _s.settlement_id,
    _s.status,
    _s.institution_code,
    _i.name.label("institution_name"),
    _s.home_region,
    _s.settled_on,
    _v.masked_id,
    _v.masked_name,
    _v.med_type,
    _s.medfee_sumamt,
    _s.hifp_pay,
    _s.acct_pay,
    _s.psn_cash_pay,
    _s.error_code,
)
_JOINED = t.visit_settlements.join(t.visits, _v.visit_id == _s.visit_id).outerjoin(
    t.institutions, _i.code == _s.institution_code
)


class ConsoleQueries:
    conn: Connection

    def flow_rows(self, from_date: date, to_date: date) -> list[FlowRow]:
        sums = (_s.medfee_sumamt, _s.hifp_pay, _s.acct_pay, _s.psn_cash_pay)
        query = (
            select(
                _s.settled_on,
                _s.home_region,
                _s.status,
                _s.error_code,
                func.count(),
                *(func.coalesce(func.sum(x), 0) for x in sums),
            )
            .where(_s.settled_on >= from_date, _s.settled_on <= to_date)
            .group_by(_s.settled_on, _s.home_region, _s.status, _s.error_code)
            .order_by(_s.settled_on, _s.home_region, _s.status)
        )
        return [
            FlowRow(r[0], r[1], str(r[2]), r[3], *(int(v) for v in r[4:]))
            for r in self.conn.execute(query)
        ]

    def find_settlements(self, search: SettlementSearch) -> tuple[int, list[SettlementRow]]:
        where = []
        if search.settlement_id:
            where.append(_s.settlement_id == search.settlement_id)
        if search.institution:
            where.append(_s.institution_code == search.institution)
        if search.day is not None:
            where.append(_s.settled_on == search.day)
        if search.status is not None:
            where.append(_s.status == search.status.value)
        total = self.conn.scalar(select(func.count()).select_from(_JOINED).where(*where)) or 0
        rows = self.conn.execute(
            select(*_ROW_COLUMNS)
            .select_from(_JOINED)
            .where(*where)
            .order_by(_s.created_at.desc(), _s.settlement_id)
            .limit(search.limit)
            .offset(search.offset)
        )
        return int(total), [_settlement_row(r) for r in rows]

    def settlement_row(self, settlement_id: str) -> SettlementRow | None:
        row = self.conn.execute(
            select(*_ROW_COLUMNS).select_from(_JOINED).where(_s.settlement_id == settlement_id)
        ).first()
        return _settlement_row(row) if row else None

    def settlement_detail(self, settlement_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(
                _s.visit_id,
                _s.split,
                _s.lines,
                _s.error_detail,
                _s.settled_at,
                _s.cancelled_at,
            ).where(_s.settlement_id == settlement_id)
        ).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["settled_at"] = _moment(out["settled_at"])
        out["cancelled_at"] = _moment(out["cancelled_at"])
        return out

    def visit_lines_for(self, settlement_id: str, home_region: str, pseudonym: str) -> str | None:
        """The classified lines of a settlement, only for its own patient's home region."""
        return self.conn.scalar(
            select(_s.lines)
            .select_from(_JOINED)
            .where(
                _s.settlement_id == settlement_id,
                _s.home_region == home_region,
                _v.pseudonym == pseudonym,
            )
        )

    def home_settlements_of(self, person_id: int) -> list[HomeSettlementRecord]:
        """A person's settlements elsewhere that stood at some point (committed, or since
        cancelled), newest first."""
        statuses = [HomeStatus.COMMITTED.value, HomeStatus.CANCELLED.value]
        rows = self.conn.execute(
            select(t.home_settlements)
            .where(_h.person_id == person_id, _h.status.in_(statuses))
            .order_by(_h.committed_at.desc(), _h.settlement_id)
        )
        return [record(HomeSettlementRecord, r) for r in rows]
