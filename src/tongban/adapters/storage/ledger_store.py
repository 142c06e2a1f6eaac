"""The ledger's storage, shared by nodes and the hub: post transfers, read balances, audit.

Transfers are append-only (the migrations add triggers that refuse UPDATE and DELETE), and
balances are sums over them rather than counters kept on hot account rows: every settlement
posts to the same few accounts, and a counter row would serialise them all on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select

from tongban.adapters.storage import statements as sql
from tongban.adapters.storage.database import stored_moment
from tongban.domain.ledger import Balance, LedgerAudit, Transfer, validate
from tongban.errors import Conflict


class LedgerBook:
    """One ledger inside the caller's transaction: a group posts all together or not at all."""

    def __init__(self, conn: Connection, accounts: Table, transfers: Table) -> None:
        self.conn = conn
        self.accounts = accounts
        self.transfers = transfers

    def post(self, group: Sequence[Transfer], at: datetime) -> int:
        """Post a linked group; returns how many were new. Raises before writing anything wrong.

        Same id and same content is a no-op (a retried posting); same id with other content is
        refused with ``TRANSFER_EXISTS`` and, raised inside the transaction, undoes the group.
        """
        if not group:
            return 0
        validate(group)
        at = stored_moment(at)
        dialect = self.conn.dialect.name
        open_account = sql.insert_new(self.accounts, dialect)
        for account in sorted({a for t in group for a in (t.debit, t.credit)}):
            self.conn.execute(open_account, {"account": account, "opened_at": at})
        insert = sql.insert_new(self.transfers, dialect)
        fresh = 0
        for t in group:
            digest = t.content_hash()
            values = {
                "transfer_id": t.transfer_id,
                "debit": t.debit,
                "credit": t.credit,
                "amount": t.amount,
                "code": t.code,
                "ref": t.ref,
                "content_hash": digest,
                "posted_at": at,
            }
            if self.conn.execute(insert, values).first() is not None:
                fresh += 1
                continue
            stored = self.conn.scalar(
                select(self.transfers.c.content_hash).where(
                    self.transfers.c.transfer_id == t.transfer_id
                )
            )
            if stored != digest:
                raise Conflict(
                    "TRANSFER_EXISTS", f"transfer {t.transfer_id} exists with other content"
                )
        return fresh

    def balances(self, codes: Sequence[str] | None = None) -> dict[str, Balance]:
        """Every account's posted debits and credits (optionally only transfers of ``codes``)."""
        c = self.transfers.c
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for side, column in ((0, c.debit), (1, c.credit)):
            query = select(column, func.sum(c.amount)).group_by(column)
            if codes is not None:
                query = query.where(c.code.in_(list(codes)))
            for account, total in self.conn.execute(query):
                sums[str(account)][side] += int(total)
        return {a: Balance(a, d, cr) for a, (d, cr) in sorted(sums.items())}

    def balance(self, account: str) -> Balance:
        c = self.transfers.c
        debits = self.conn.scalar(select(func.sum(c.amount)).where(c.debit == account)) or 0
        credits = self.conn.scalar(select(func.sum(c.amount)).where(c.credit == account)) or 0
        return Balance(account, int(debits), int(credits))

    def history(self, ref: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        c = self.transfers.c
        query = select(self.transfers).order_by(c.posted_at, c.transfer_id).limit(limit)
        if ref is not None:
            query = query.where(c.ref == ref)
        return [dict(r._mapping) for r in self.conn.execute(query)]

    def audit(self) -> LedgerAudit:
        """Check the book against itself: trial balance, accounts opened, every row intact."""
        audit = LedgerAudit()
        opened = set(self.conn.scalars(select(self.accounts.c.account)))
        named: set[str] = set()
        for row in self.conn.execute(select(self.transfers)):
            audit.transfers += 1
            named.update((row.debit, row.credit))
            recomputed = Transfer(
                row.transfer_id, row.debit, row.credit, int(row.amount), row.code, row.ref
            ).content_hash()
            if row.amount <= 0 or row.debit == row.credit or recomputed != row.content_hash:
                audit.bad_transfers.append(str(row.transfer_id))
        # The trial balance (试算平衡), from the by-account totals the statements are made of.
        by_account = self.balances()
        audit.debits = sum(b.debits for b in by_account.values())
        audit.credits = sum(b.credits for b in by_account.values())
        audit.unopened_accounts = sorted(named - opened)
        return audit
