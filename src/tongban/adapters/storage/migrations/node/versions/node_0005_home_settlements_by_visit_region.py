"""Home settlements keyed by (settlement id, visit region), not by settlement id alone.

Hospitals choose settlement ids unique within their own visit region only: keyed by the id
alone, a second region's settlement with the same id was refused as ID_REUSED, and any region
could void an id in advance for all the others by asking to resolve it.

Revision ID: node_0005
Revises: node_0004
Create Date: 2026-11-21 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "node_0005"
down_revision: str | None = "node_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "home_settlements"


def _primary_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "sqlite":  # SQLite cannot alter a key: copy the table
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.create_primary_key(f"{TABLE}_pkey", columns)
    else:
        op.drop_constraint(f"{TABLE}_pkey", TABLE, type_="primary")
        op.create_primary_key(f"{TABLE}_pkey", TABLE, columns)


def upgrade() -> None:
    _primary_key(["settlement_id", "visit_region"])


def downgrade() -> None:
    _primary_key(["settlement_id"])
