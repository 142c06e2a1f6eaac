"""Triggers that make ledger transfers append-only on both engines (used by the migrations)."""

from __future__ import annotations

from alembic import op

_MESSAGE = "ledger transfers are immutable: post a correction instead"


def make_transfers_immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION tongban_ledger_immutable() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON "
            "ledger_transfers FOR EACH ROW EXECUTE FUNCTION tongban_ledger_immutable()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_transfers_no_{action.lower()} BEFORE {action} ON "
            f"ledger_transfers BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def drop_immutability() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_immutable ON ledger_transfers")
        op.execute("DROP FUNCTION IF EXISTS tongban_ledger_immutable()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_transfers_no_{action}")
