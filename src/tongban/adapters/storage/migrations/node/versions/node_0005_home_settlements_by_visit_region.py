"""Home settlements keyed by (settlement id, visit region), not by settlement id alone.

Hospitals choose settlement ids unique within their own visit region only: keyed by the id
alone, a second region's settlement with the same id was refused as ID_REUSED, and any region
could void an id in advance for all the others by asking to resolve it.

Revision ID: node_0005
Revises: node_0004
Create Date: 2026-11-21 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "node_0005"
down_revision: str | None = "node_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "home_settlements"


def _as_of_node_0004(key: list[str]) -> sa.Table:
    """The table as it stands at node_0004, with ``key`` as its primary key: SQLite copies it
    into this shape (a key cannot be altered there), so nothing is left to reflection."""
    money = sa.BigInteger
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("settlement_id", sa.String(64), nullable=False),
        sa.Column("visit_region", sa.String(6), nullable=False),
        sa.Column("institution_code", sa.String(12)),
        sa.Column("person_id", sa.Integer),
        sa.Column("med_type", sa.String(16)),
        sa.Column("year", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("error_code", sa.String(40)),
        sa.Column("split", sa.Text),
        sa.Column("delta", sa.Text),
        sa.Column("hifp_pay", money),
        sa.Column("acct_pay", money),
        sa.Column("medfee_sumamt", money),
        sa.Column("settled_on", sa.Date),
        sa.Column("committed_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    ]
    table: sa.Table = sa.Table(
        TABLE,
        sa.MetaData(),
        *columns,
        sa.PrimaryKeyConstraint(*key),
        sa.Index("ix_home_settlements_person_id", "person_id"),
        sa.Index("ix_home_settlements_settled_on", "settled_on"),
        sa.Index("ix_home_settlements_committed_at", "committed_at"),
        sa.Index("ix_home_settlements_cancelled_at", "cancelled_at"),
    )
    return table


def _primary_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "sqlite":  # SQLite cannot alter a key: copy the table
        with op.batch_alter_table(TABLE, copy_from=_as_of_node_0004(columns), recreate="always"):
            pass
    else:
        op.drop_constraint(f"{TABLE}_pkey", TABLE, type_="primary")
        op.create_primary_key(f"{TABLE}_pkey", TABLE, columns)


def upgrade() -> None:
    _primary_key(["settlement_id", "visit_region"])


def downgrade() -> None:
    _primary_key(["settlement_id"])
