"""A node's storage: the SQLAlchemy implementation of ``service_layer.ports.NodeStore``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, Table, func, insert, select, update

from tongban.adapters.storage import schema as t
from tongban.adapters.storage import statements as sql
from tongban.adapters.storage.console_queries import ConsoleQueries
from tongban.adapters.storage.database import Database
from tongban.adapters.storage.national_store import NationalQueries
from tongban.adapters.storage.node_reports import NodeReportQueries
from tongban.adapters.storage.resident_store import ResidentQueries
from tongban.adapters.storage.rows import record as _record
from tongban.domain.case import parse_policy
from tongban.domain.catalogue import CatalogueItem, CoverageClass
from tongban.domain.money import format_ratio
from tongban.domain.policy import Policy, StateDelta
from tongban.errors import MessageRejected
from tongban.service_layer.records import (
    Accumulator,
    FilingRecord,
    HomeSettlementRecord,
    HomeStatus,
    InstitutionRecord,
    PersonRecord,
    RouteTotals,
    VisitRecord,
    VisitSettlementRecord,
    VisitStatus,
)
from tongban.service_layer.region_view import policy_out


def policy_to_json(policy: Policy) -> str:
    return json.dumps(policy_out(policy), ensure_ascii=False)


class NodeTransaction(NodeReportQueries, ResidentQueries, ConsoleQueries, NationalQueries):
    """One database transaction of a node."""

    def __init__(self, conn: Connection, lock_rows: bool) -> None:
        self.conn = conn
        self._lock_rows = lock_rows

    def _insert_new(self, table: Table, values: Mapping[str, Any]) -> bool:
        """INSERT unless the primary key exists (no savepoint needed on either engine)."""
        stmt = sql.insert_new(table, self.conn.dialect.name)
        return self.conn.execute(stmt, dict(values)).first() is not None

    def _one(self, stmt: Any, key: object) -> Row[Any] | None:
        return self.conn.execute(stmt, {"key": key}).first()

    # --- meta -----------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        return self.conn.scalar(select(t.node_meta.c.value).where(t.node_meta.c.key == key))

    def set_meta(self, key: str, value: str) -> None:
        done = self.conn.execute(
            update(t.node_meta).where(t.node_meta.c.key == key).values(value=value)
        )
        if done.rowcount == 0:
            self.conn.execute(insert(t.node_meta).values(key=key, value=value))

    # --- reference data -------------------------------------------------------------------
    def institution(self, code: str) -> InstitutionRecord | None:
        row = self.conn.execute(select(t.institutions).where(t.institutions.c.code == code)).first()
        return _record(InstitutionRecord, row) if row else None

    def institution_by_key_hash(self, key_hash: str) -> InstitutionRecord | None:
        row = self.conn.execute(
            select(t.institutions).where(t.institutions.c.api_key_hash == key_hash)
        ).first()
        return _record(InstitutionRecord, row) if row else None

    def institutions(self) -> list[InstitutionRecord]:
        rows = self.conn.execute(select(t.institutions).order_by(t.institutions.c.code))
        return [_record(InstitutionRecord, r) for r in rows]

    def put_institutions(self, rows: Iterable[tuple[InstitutionRecord, str | None]]) -> None:
        values = [asdict(i) | {"api_key_hash": key_hash} for i, key_hash in rows]
        if values:
            self.conn.execute(insert(t.institutions), values)

    def catalogue(self) -> dict[str, CatalogueItem]:
        return {
            r.code: CatalogueItem(
                code=r.code,
                name=r.name,
                coverage=CoverageClass(r.coverage),
                selfpay_ratio=Decimal(r.selfpay_ratio),
                price_cap=r.price_cap,
            )
            for r in self.conn.execute(select(t.catalogue))
        }

    def put_catalogue(self, items: Iterable[CatalogueItem]) -> None:
        values = [
            {
                "code": i.code,
                "name": i.name,
                "coverage": i.coverage.value,
                "selfpay_ratio": format_ratio(i.selfpay_ratio),
                "price_cap": i.price_cap,
            }
            for i in items
        ]
        if values:
            self.conn.execute(insert(t.catalogue), values)

    def policies(self) -> dict[tuple[str, str, int], Policy]:
        return {
            (r.insutype, r.med_type, r.level): parse_policy(json.loads(r.body))
            for r in self.conn.execute(select(t.policies))
        }

    def put_policies(self, items: Iterable[Policy]) -> None:
        values = [
            {
                "insutype": p.insutype,
                "med_type": p.med_type.value,
                "level": p.level or 0,
                "body": policy_to_json(p),
            }
            for p in items
        ]
        if values:
            self.conn.execute(insert(t.policies), values)

    # --- home role: people, accumulators, filings -----------------------------------------
    def put_persons(self, rows: Iterable[Mapping[str, Any]]) -> None:
        values = list(rows)
        if values:
            self.conn.execute(insert(t.persons), values)

    def person_by_pseudonym(self, pseudonym: str) -> PersonRecord | None:
        stmt = sql.PERSON_BY_PSEUDONYM_LOCKED if self._lock_rows else sql.PERSON_BY_PSEUDONYM
        row = self._one(stmt, pseudonym)
        return _record(PersonRecord, row) if row else None

    def person_by_id_number(self, id_number: str) -> PersonRecord | None:
        row = self._one(sql.PERSON_BY_ID_NUMBER, id_number)
        return _record(PersonRecord, row) if row else None

    def person(self, person_id: int) -> PersonRecord | None:
        row = self._one(sql.PERSON_BY_ID_LOCKED if self._lock_rows else sql.PERSON_BY_ID, person_id)
        return _record(PersonRecord, row) if row else None

    def accumulator(self, person_id: int, year: int, med_type: str) -> Accumulator:
        row = self.conn.execute(
            sql.ACCUMULATOR, {"pid": person_id, "yr": year, "mt": med_type}
        ).first()
        return _record(Accumulator, row) if row else Accumulator()

    def apply_delta(self, person_id: int, year: int, med_type: str, delta: StateDelta) -> None:
        """Add a commit's delta (or a cancel's reversed delta) to the person's state."""
        key = {"pid": person_id, "yr": year, "mt": med_type}
        done = self.conn.execute(
            sql.ADD_TO_ACCUMULATOR,
            key
            | {
                "d_ded": delta.deductible_used,
                "d_fund": delta.fund_paid,
                "d_adm": delta.admissions,
            },
        )
        if done.rowcount == 0:
            self.conn.execute(
                sql.insert_into(t.accumulators),
                {
                    "person_id": person_id,
                    "year": year,
                    "med_type": med_type,
                    "deductible_used": delta.deductible_used,
                    "fund_paid": delta.fund_paid,
                    "admissions": delta.admissions,
                },
            )
        if delta.account_debit:
            self.conn.execute(sql.DEBIT_ACCOUNT, {"pid": person_id, "debit": delta.account_debit})

    def filings_of(self, person_id: int) -> list[FilingRecord]:
        rows = self.conn.execute(sql.FILINGS_OF, {"key": person_id})
        return [_record(FilingRecord, r) for r in rows]

    def filing(self, filing_id: str) -> FilingRecord | None:
        row = self.conn.execute(select(t.filings).where(t.filings.c.filing_id == filing_id)).first()
        return _record(FilingRecord, row) if row else None

    def add_filings(self, records: Iterable[FilingRecord]) -> None:
        values = [asdict(r) for r in records]
        if values:
            self.conn.execute(insert(t.filings), values)

    def revoke_filing(self, filing_id: str, on: date) -> None:
        self.conn.execute(
            update(t.filings).where(t.filings.c.filing_id == filing_id).values(revoked_on=on)
        )

    # --- home role: settlements -----------------------------------------------------------
    def home_settlement(self, visit_region: str, settlement_id: str) -> HomeSettlementRecord | None:
        row = self.conn.execute(
            sql.HOME_SETTLEMENT, {"region": visit_region, "key": settlement_id}
        ).first()
        return _record(HomeSettlementRecord, row) if row else None

    def claim_home_settlement(self, record: HomeSettlementRecord) -> bool:
        """Insert the record unless the visit region's id is taken (then False, nothing
        written). Ids are the hospitals' own, unique within their visit region only."""
        values = asdict(record) | {"status": record.status.value}
        return self._insert_new(t.home_settlements, values)

    def mark_home_cancelled(self, visit_region: str, settlement_id: str, at: datetime) -> None:
        c = t.home_settlements.c
        self.conn.execute(
            update(t.home_settlements)
            .where(c.visit_region == visit_region, c.settlement_id == settlement_id)
            .values(status=HomeStatus.CANCELLED.value, cancelled_at=at)
        )

    def log_inbound(self, msgid: str, sender: str, kind: str, at: datetime) -> None:
        """Durable replay protection for messages that change state."""
        fresh = self._insert_new(
            t.inbox, {"msgid": msgid, "sender": sender, "kind": kind, "received_at": at}
        )
        if not fresh:
            raise MessageRejected("REPLAYED_MESSAGE", f"{msgid} was already received")

    # --- visit role -----------------------------------------------------------------------
    def insert_visit(self, record: VisitRecord) -> None:
        self.conn.execute(sql.insert_into(t.visits), asdict(record))

    def visit(self, visit_id: str) -> VisitRecord | None:
        row = self._one(sql.VISIT, visit_id)
        return _record(VisitRecord, row) if row else None

    def set_visit_emergency(self, visit_id: str) -> None:
        self.conn.execute(
            update(t.visits).where(t.visits.c.visit_id == visit_id).values(emergency=True)
        )

    def visit_settlement(self, settlement_id: str) -> VisitSettlementRecord | None:
        row = self._one(sql.VISIT_SETTLEMENT, settlement_id)
        return _record(VisitSettlementRecord, row) if row else None

    def insert_visit_settlement(self, record: VisitSettlementRecord) -> bool:
        """Insert; False if another request inserted this id first."""
        values = asdict(record) | {"status": record.status.value}
        return self._insert_new(t.visit_settlements, values)

    def update_visit_settlement(self, settlement_id: str, **values: Any) -> None:
        values = {k: (v.value if isinstance(v, VisitStatus) else v) for k, v in values.items()}
        self.conn.execute(sql.UPDATE_VISIT_SETTLEMENT, {"key": settlement_id, **values})

    def update_visit_settlement_from(
        self, settlement_id: str, allowed: Iterable[VisitStatus], **values: Any
    ) -> bool:
        """Update only while the status is one of ``allowed`` (checked by the UPDATE itself,
        so a racing writer cannot slip between a read and this write); True when it did."""
        c = t.visit_settlements.c
        values = {k: (v.value if isinstance(v, VisitStatus) else v) for k, v in values.items()}
        result = self.conn.execute(
            update(t.visit_settlements)
            .where(c.settlement_id == settlement_id, c.status.in_([s.value for s in allowed]))
            .values(**values)
        )
        return bool(result.rowcount)

    def unresolved_settlements(self, created_before: datetime | None) -> list[str]:
        c = t.visit_settlements.c
        query = select(c.settlement_id).where(
            c.status.in_(
                [VisitStatus.PENDING.value, VisitStatus.UNKNOWN.value, VisitStatus.CANCELLING.value]
            )
        )
        if created_before is not None:
            query = query.where(c.created_at < created_before)
        return list(self.conn.scalars(query.order_by(c.created_at)))

    def outbox_add(
        self, settlement_id: str, recipient: str, kind: str, body: str, at: datetime
    ) -> None:
        self.conn.execute(
            sql.insert_into(t.outbox),
            {
                "settlement_id": settlement_id,
                "recipient": recipient,
                "kind": kind,
                "body": body,
                "created_at": at,
            },
        )

    def outbox_answered(self, settlement_id: str, kind: str, outcome: str, at: datetime) -> None:
        self.conn.execute(
            sql.OUTBOX_ANSWERED, {"sid": settlement_id, "k": kind, "at": at, "outcome": outcome}
        )

    def located(self, pseudonym: str) -> str | None:
        row = self._one(sql.LOCATED, pseudonym)
        return str(row[0]) if row else None

    def remember_location(self, pseudonym: str, home_region: str) -> None:
        if not self._insert_new(
            t.locator_cache, {"pseudonym": pseudonym, "home_region": home_region}
        ):
            self.conn.execute(
                update(t.locator_cache)
                .where(t.locator_cache.c.pseudonym == pseudonym)
                .values(home_region=home_region)
            )

    def visit_totals(self, settled_on: date | None) -> list[RouteTotals]:
        """Settlements at this node's institutions, by home region and status."""
        c = t.visit_settlements.c
        return self._totals(c.home_region, c, c.psn_cash_pay, settled_on)

    def home_totals(self, settled_on: date | None) -> list[RouteTotals]:
        """Settlements of this node's insured elsewhere, by visit region and status."""
        c = t.home_settlements.c
        cash = c.medfee_sumamt - c.hifp_pay - c.acct_pay
        return self._totals(c.visit_region, c, cash, settled_on)

    def _totals(self, other: Any, c: Any, cash: Any, settled_on: date | None) -> list[RouteTotals]:
        sums = [c.medfee_sumamt, c.hifp_pay, c.acct_pay, cash]
        query = select(
            other, c.status, func.count(), *(func.coalesce(func.sum(x), 0) for x in sums)
        ).group_by(other, c.status)
        if settled_on is not None:
            query = query.where(c.settled_on == settled_on)
        rows = self.conn.execute(query)
        return [RouteTotals(r[0], str(r[1]), *(int(v) for v in r[2:])) for r in rows]

    def count(self, table: str) -> int:
        return int(
            self.conn.scalar(select(func.count()).select_from(t.node_metadata.tables[table])) or 0
        )


class NodeStore:
    """Opens node transactions on one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def write(self) -> Iterator[NodeTransaction]:
        with self.db.write() as conn:
            yield NodeTransaction(conn, lock_rows=not self.db.is_sqlite)

    @contextmanager
    def read(self) -> Iterator[NodeTransaction]:
        with self.db.read() as conn:
            yield NodeTransaction(conn, lock_rows=False)


def open_node_store(url: str, migrate: bool = True) -> NodeStore:
    """Open a node's database; ``migrate=False`` refuses one whose schema is behind."""
    db = Database(url, t.node_metadata)
    db.prepare("node", migrate)
    return NodeStore(db)
