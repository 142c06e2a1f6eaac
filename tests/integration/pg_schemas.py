"""PostgreSQL schemas for tests: one per node (and the hub) inside a throw-away database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def pg_schema_urls(server_url: str) -> Callable[[str], str]:
    """One schema per node (and the hub) inside the throw-away database."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")

    def url_for(name: str) -> str:
        schema = f"{prefix}_{name}"
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        return make_url(server_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)

    return url_for
