"""Alembic migrations of the node and hub schemas, for SQLite and PostgreSQL alike.

Two migration trees (``node/`` and ``hub/``), run programmatically: no alembic.ini to find.
``upgrade_to_head`` brings a database up to date (``tongban db upgrade``); ``ensure_current``
refuses a database whose schema is behind and says which command upgrades it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from tongban.errors import TongbanError

Schema = Literal["node", "hub"]
HERE = Path(__file__).parent


class SchemaBehind(TongbanError):
    """The database's schema is older than this version of tongban expects."""

    status = 503
    title = "Schema behind"


def _config(schema: Schema, engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE / schema))
    config.attributes["engine"] = engine
    config.attributes["schema"] = schema
    return config


@cache
def head(schema: Schema) -> str:
    revision = ScriptDirectory.from_config(_config(schema)).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine, schema: Schema) -> None:
    """Apply every migration the database lacks (a no-op when it is current)."""
    if current(engine) != head(schema):
        command.upgrade(_config(schema, engine), "head")


def ensure_current(engine: Engine, schema: Schema, url_hint: str) -> None:
    found = current(engine)
    if found != head(schema):
        raise SchemaBehind(
            "SCHEMA_BEHIND",
            f"the {schema} database is at revision {found or 'none (empty)'}, this tongban "
            f"needs {head(schema)}: run `tongban db upgrade --{schema} --db {url_hint}` first",
        )
