"""The national-interface adapter's rows in a node's database (envelopes by msgid, fee details).

Mixed into ``NodeTransaction``; implements ``service_layer.national_ports.NationalTx``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from tongban.adapters.storage import schema as t
from tongban.adapters.storage import statements as sql
from tongban.adapters.storage.database import stored_moment
from tongban.adapters.storage.rows import record
from tongban.service_layer.national.ports import FeeDetailRecord, MessageRecord

_m = t.national_messages.c
_f = t.national_fee_details.c
SETTLE_INFNOS = ("2207", "2304")
REGISTRATION_INFNOS = ("2201", "2401")


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    return {k: stored_moment(v) if isinstance(v, datetime) else v for k, v in values.items()}


class NationalQueries:
    conn: Connection
    _lock_rows: bool

    def lock_visit(self, visit_id: str) -> None:
        """Hold the visit's row until the transaction ends (PostgreSQL; SQLite has one writer)."""
        if self._lock_rows:
            self.conn.execute(
                select(t.visits.c.visit_id).where(t.visits.c.visit_id == visit_id).with_for_update()
            )

    def national_message(self, msgid: str) -> MessageRecord | None:
        row = self.conn.execute(select(t.national_messages).where(_m.msgid == msgid)).first()
        return record(MessageRecord, row) if row else None

    def add_national_message(self, message: MessageRecord) -> bool:
        stmt = sql.insert_new(t.national_messages, self.conn.dialect.name)
        return self.conn.execute(stmt, _stored(asdict(message))).first() is not None

    def set_national_answer(self, msgid: str, answer: str) -> None:
        self.conn.execute(
            update(t.national_messages).where(_m.msgid == msgid).values(answer=answer)
        )

    def set_national_reversal(
        self, msgid: str, reversal: str | None, reversed_by: str | None
    ) -> None:
        self.conn.execute(
            update(t.national_messages)
            .where(_m.msgid == msgid)
            .values(reversal=reversal, reversed_by=reversed_by)
        )

    def pending_reversals(self) -> list[MessageRecord]:
        rows = self.conn.execute(
            select(t.national_messages)
            .where(_m.reversal == "PENDING")
            .order_by(_m.received_at, _m.msgid)
        )
        return [record(MessageRecord, row) for row in rows]

    def registration(self, mdtrt_id: str) -> MessageRecord | None:
        row = self.conn.execute(
            select(t.national_messages)
            .where(_m.mdtrt_id == mdtrt_id, _m.infno.in_(REGISTRATION_INFNOS))
            .order_by(_m.received_at)
        ).first()
        return record(MessageRecord, row) if row else None

    def batch_settlements(self, mdtrt_id: str, chrg_bchno: str) -> list[MessageRecord]:
        rows = self.conn.execute(
            select(t.national_messages)
            .where(
                _m.mdtrt_id == mdtrt_id,
                _m.chrg_bchno == chrg_bchno,
                _m.infno.in_(SETTLE_INFNOS),
                _m.content_hash != "",
            )
            .order_by(_m.received_at, _m.msgid)
        )
        return [record(MessageRecord, row) for row in rows]

    def fee_details(self, mdtrt_id: str) -> list[FeeDetailRecord]:
        rows = self.conn.execute(
            select(t.national_fee_details)
            .where(_f.mdtrt_id == mdtrt_id)
            .order_by(_f.uploaded_at, _f.feedetl_sn)
        )
        return [record(FeeDetailRecord, row) for row in rows]

    def add_fee_details(self, records: Iterable[FeeDetailRecord]) -> list[str]:
        stmt = sql.insert_new(t.national_fee_details, self.conn.dialect.name)
        return [
            r.feedetl_sn
            for r in records
            if self.conn.execute(stmt, _stored(asdict(r))).first() is None
        ]

    def delete_fee_details(self, mdtrt_id: str, feedetl_sns: Iterable[str]) -> int:
        sns = list(feedetl_sns)
        if not sns:
            return 0
        result = self.conn.execute(
            delete(t.national_fee_details).where(
                _f.mdtrt_id == mdtrt_id, _f.feedetl_sn.in_(sns)
            )
        )
        return int(result.rowcount or 0)
