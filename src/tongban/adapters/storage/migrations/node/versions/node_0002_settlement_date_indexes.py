"""Index settlements by date, for day summaries and monthly period reports.

Revision ID: node_0002
Revises: node_0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "node_0002"
down_revision: str | None = "node_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_visit_settlements_settled_on", "visit_settlements", ["settled_on"])
    op.create_index("ix_home_settlements_settled_on", "home_settlements", ["settled_on"])


def downgrade() -> None:
    op.drop_index("ix_home_settlements_settled_on", table_name="home_settlements")
    op.drop_index("ix_visit_settlements_settled_on", table_name="visit_settlements")
