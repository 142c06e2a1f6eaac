"""Alembic environment of the hub schema; run through tongban.adapters.storage.migrations."""

from alembic import context

from tongban.adapters.storage.schema import hub_metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=hub_metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    context.run_migrations()
