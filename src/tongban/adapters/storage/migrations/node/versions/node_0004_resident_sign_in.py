"""Residents' sign-in: one-time code challenges and session tokens, both stored hashed.

Revision ID: node_0004
Revises: node_0003
Create Date: 2026-11-22 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "node_0004"
down_revision: str | None = "node_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_challenges",
        sa.Column("challenge_id", sa.String(length=40), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("challenge_id"),
    )
    with op.batch_alter_table("resident_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_challenges_pseudonym"), ["pseudonym"], unique=False
        )

    op.create_table(
        "resident_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("resident_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_sessions_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("resident_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_sessions_person_id"))
    op.drop_table("resident_sessions")
    with op.batch_alter_table("resident_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_challenges_pseudonym"))
    op.drop_table("resident_challenges")
