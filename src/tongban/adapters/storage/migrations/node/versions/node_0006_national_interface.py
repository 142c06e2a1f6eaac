"""The national-interface adapter: the envelopes hospitals sent (by msgid) and fee details.

Revision ID: node_0006
Revises: node_0005
Create Date: 2026-12-03 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "node_0006"
down_revision: str | None = "node_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "national_messages",
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.Column("institution_code", sa.String(length=12), nullable=False),
        sa.Column("infno", sa.String(length=8), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=40), nullable=True),
        sa.Column("chrg_bchno", sa.String(length=40), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("reversal", sa.String(length=16), nullable=True),
        sa.Column("reversed_by", sa.String(length=30), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msgid"),
    )
    op.create_index("ix_national_messages_mdtrt_id", "national_messages", ["mdtrt_id"])
    op.create_index("ix_national_messages_reversal", "national_messages", ["reversal"])
    op.create_table(
        "national_fee_details",
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("feedetl_sn", sa.String(length=30), nullable=False),
        sa.Column("institution_code", sa.String(length=12), nullable=False),
        sa.Column("chrg_bchno", sa.String(length=40), nullable=False),
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.String(length=24), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mdtrt_id", "feedetl_sn"),
    )
    op.create_index("ix_national_fee_details_msgid", "national_fee_details", ["msgid"])


def downgrade() -> None:
    op.drop_index("ix_national_fee_details_msgid", table_name="national_fee_details")
    op.drop_table("national_fee_details")
    op.drop_index("ix_national_messages_reversal", table_name="national_messages")
    op.drop_index("ix_national_messages_mdtrt_id", table_name="national_messages")
    op.drop_table("national_messages")
