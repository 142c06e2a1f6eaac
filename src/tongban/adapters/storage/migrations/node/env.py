"""Alembic environment of the node schema; run through tongban.adapters.storage.migrations."""

from alembic import context

from tongban.adapters.storage.schema import node_metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=node_metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    context.run_migrations()
