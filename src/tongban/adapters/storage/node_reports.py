"""A node's back-office queries: settlement events for period reports and hospital
reconciliation, its ledger, and the clearing statements it answered.

Mixed into ``NodeTransaction``; kept apart because none of it is on the settlement hot path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from tongban.adapters.storage import schema as t
from tongban.adapters.storage import statements as sql
from tongban.adapters.storage.database import read_moment, stored_moment
from tongban.adapters.storage.ledger_store import LedgerBook
from tongban.domain import ledger as acc
from tongban.domain.clearing import SettlementEvent
from tongban.domain.ledger import EventKind, Transfer, opening_balance
from tongban.service_layer.records import HomeStatus, VisitStatus

_vs = t.visit_settlements.c
_hs = t.home_settlements.c

# Which stored states carry which events (the cancel is an event of its own, DESIGN §4.5).
_VISIT_SETTLED = [
    s.value for s in (VisitStatus.SETTLED, VisitStatus.CANCELLING, VisitStatus.CANCELLED)
]
_HOME_SETTLED = [HomeStatus.COMMITTED.value, HomeStatus.CANCELLED.value]


class NodeReportQueries:
    conn: Connection

    @property
    def ledger(self) -> LedgerBook:
        return LedgerBook(self.conn, t.node_ledger_accounts, t.node_ledger_transfers)

    def post(self, transfers: Sequence[Transfer], at: datetime) -> int:
        return self.ledger.post(transfers, at)

    def open_person_accounts(self, pseudonyms: Iterable[str], at: datetime) -> None:
        """Post the opening balance of each newly loaded person's personal account."""
        wanted = list(pseudonyms)
        p = t.persons.c
        for start in range(0, len(wanted), 500):
            rows = self.conn.execute(
                select(p.person_id, p.account_balance).where(
                    p.pseudonym.in_(wanted[start : start + 500])
                )
            )
            group = [tr for r in rows for tr in opening_balance(r.person_id, r.account_balance)]
            self.ledger.post(group, at)

    # --- events ---------------------------------------------------------------------------
    def _event_query(self, role: str, event: EventKind) -> tuple[Any, Any, Any]:
        """(columns, moment column, state filter) for one role and event kind."""
        if role == "visit":
            moment = _vs.settled_at if event is EventKind.SETTLE else _vs.cancelled_at
            states = _VISIT_SETTLED if event is EventKind.SETTLE else [VisitStatus.CANCELLED.value]
            cols = (
                _vs.settlement_id,
                _vs.home_region,
                _vs.institution_code,
                _vs.medfee_sumamt,
                _vs.hifp_pay,
                _vs.acct_pay,
                moment,
            )
            return cols, moment, _vs.status.in_(states)
        moment = _hs.committed_at if event is EventKind.SETTLE else _hs.cancelled_at
        states = _HOME_SETTLED if event is EventKind.SETTLE else [HomeStatus.CANCELLED.value]
        cols = (
            _hs.settlement_id,
            _hs.visit_region,
            _hs.institution_code,
            _hs.medfee_sumamt,
            _hs.hifp_pay,
            _hs.acct_pay,
            moment,
        )
        return cols, moment, _hs.status.in_(states)

    def _events(
        self, role: str, region: str, event: EventKind, rows: Iterable[Any]
    ) -> list[SettlementEvent]:
        out = []
        for sid, other, inst, medfee, hifp, acct, moment in rows:
            visit, home = (region, other) if role == "visit" else (other, region)
            out.append(
                SettlementEvent(
                    visit, sid, event, home, inst, read_moment(moment), medfee, hifp or 0, acct or 0
                )
            )
        return out

    def settlement_events(
        self,
        role: str,
        region: str,
        event: EventKind,
        since: datetime | None,
        until: datetime,
        after: str = "",
        limit: int = 5000,
    ) -> list[SettlementEvent]:
        """Events of one kind in [since, until), ordered by settlement id, after ``after``."""
        cols, moment, state = self._event_query(role, event)
        sid = cols[0]
        query = select(*cols).where(state, moment < stored_moment(until), sid > after)
        if since is not None:
            query = query.where(moment >= stored_moment(since))
        rows = self.conn.execute(query.order_by(sid).limit(limit))
        return self._events(role, region, event, rows)

    def events_of(
        self, role: str, region: str, keys: Sequence[tuple[str, str]]
    ) -> list[SettlementEvent]:
        """This side's current view of given (settlement id, event) pairs, wherever they fall."""
        out: list[SettlementEvent] = []
        for kind in EventKind:
            ids = [sid for sid, e in keys if e == kind.value]
            cols, _moment, state = self._event_query(role, kind)
            for start in range(0, len(ids), 500):
                rows = self.conn.execute(
                    select(*cols).where(state, cols[0].in_(ids[start : start + 500]))
                )
                out.extend(self._events(role, region, kind, rows))
        return out

    def institution_events(
        self,
        institution_code: str,
        first: date,
        last: date,
        cancels_from: datetime,
        cancels_to: datetime,
    ) -> list[tuple[str, EventKind, str, int, int, int, int]]:
        """A hospital's events: settles by settlement date, cancels by the cancel's moment.

        Rows are (settlement id, event, insutype, medfee, fund, account, status-is-final).
        """
        mine = _vs.institution_code == institution_code
        _ob = t.outbox.c
        settles = self.conn.execute(
            select(
                _vs.settlement_id,
                _vs.insutype,
                _vs.medfee_sumamt,
                _vs.hifp_pay,
                _vs.acct_pay,
                _vs.status,
            )
            .where(mine, _vs.settled_on >= first, _vs.settled_on <= last)
            .order_by(_vs.settlement_id)
        )
        out = []
        for sid, insutype, medfee, hifp, acct, status in settles:
            if status in _VISIT_SETTLED:
                out.append((sid, EventKind.SETTLE, insutype, medfee, hifp, acct, 1))
            elif status in (VisitStatus.PENDING.value, VisitStatus.UNKNOWN.value):
                out.append((sid, EventKind.SETTLE, insutype, medfee, 0, 0, 0))
        cancels = self.conn.execute(
            select(
                _vs.settlement_id,
                _vs.insutype,
                _vs.medfee_sumamt,
                _vs.hifp_pay,
                _vs.acct_pay,
                _vs.status,
            )
            .where(
                mine,
                or_(
                    and_(
                        _vs.status == VisitStatus.CANCELLED.value,
                        _vs.cancelled_at >= stored_moment(cancels_from),
                        _vs.cancelled_at < stored_moment(cancels_to),
                    ),
                    # A cancel still in flight has no moment yet: it is dated by the hospital's
                    # request (its outbox entry), as the hospital dates it in its own books.
                    and_(
                        _vs.status == VisitStatus.CANCELLING.value,
                        select(_ob.outbox_id)
                        .where(
                            _ob.settlement_id == _vs.settlement_id,
                            _ob.kind == "cancel",
                            _ob.created_at >= stored_moment(cancels_from),
                            _ob.created_at < stored_moment(cancels_to),
                        )
                        .exists(),
                    ),
                ),
            )
            .order_by(_vs.settlement_id)
        )
        for sid, insutype, medfee, hifp, acct, status in cancels:
            final = int(status == VisitStatus.CANCELLED.value)
            out.append((sid, EventKind.CANCEL, insutype, medfee, hifp or 0, acct or 0, final))
        return out

    # --- what the ledger should say, from the settlement records ----------------------------
    def standing_by_account(self) -> dict[str, int]:
        """Net settlement postings each account should carry (debit positive), from records."""
        expected: dict[str, int] = defaultdict(int)
        money = func.coalesce(_vs.hifp_pay, 0) + func.coalesce(_vs.acct_pay, 0)
        standing = [VisitStatus.SETTLED.value, VisitStatus.CANCELLING.value]
        for home, inst, total in self.conn.execute(
            select(_vs.home_region, _vs.institution_code, func.sum(money))
            .where(_vs.status.in_(standing))
            .group_by(_vs.home_region, _vs.institution_code)
        ):
            expected[acc.due_from_home(home)] += int(total)
            expected[acc.due_to_hospital(inst)] -= int(total)
        hifp, acct = func.coalesce(_hs.hifp_pay, 0), func.coalesce(_hs.acct_pay, 0)
        for visit, person, fund, account in self.conn.execute(
            select(_hs.visit_region, _hs.person_id, func.sum(hifp), func.sum(acct))
            .where(_hs.status == HomeStatus.COMMITTED.value)
            .group_by(_hs.visit_region, _hs.person_id)
        ):
            expected[acc.FUND_EXPENSE] += int(fund)
            expected[acc.personal_account(person)] += int(account)
            expected[acc.due_to_visit(visit)] -= int(fund) + int(account)
        return {a: v for a, v in expected.items() if v}

    def account_balances(self) -> dict[int, int]:
        """person id -> personal-account balance as the persons table keeps it."""
        p = t.persons.c
        return {
            int(pid): int(bal)
            for pid, bal in self.conn.execute(select(p.person_id, p.account_balance))
        }

    # --- clearing statements --------------------------------------------------------------
    def statement_answer(self, period: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(t.node_statements).where(t.node_statements.c.period == period)
        ).first()
        return dict(row._mapping) if row else None

    def record_statement_answer(self, values: dict[str, Any]) -> bool:
        """Keep the first answer to a statement digest; False if this period was answered."""
        return (
            self.conn.execute(
                sql.insert_new(t.node_statements, self.conn.dialect.name), values
            ).first()
            is not None
        )

    def replace_statement_answer(self, values: dict[str, Any]) -> None:
        """A re-issued statement (after a dispute) replaces the disputed one's answer."""
        s = t.node_statements
        self.conn.execute(s.delete().where(s.c.period == values["period"]))
        self.conn.execute(sql.insert_into(s), values)
