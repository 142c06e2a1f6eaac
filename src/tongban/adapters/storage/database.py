"""Engines and transactions that behave the same on SQLite and PostgreSQL.

SQLite: WAL journal, ``synchronous=FULL`` (a committed settlement survives power loss), and
write transactions opened with ``BEGIN IMMEDIATE`` so two writers never deadlock on lock
upgrade. PostgreSQL: row locks (``SELECT ... FOR UPDATE``) serialise writers per person.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.pool import NullPool

from tongban.adapters.storage.migrations import Schema, ensure_current, upgrade_to_head

POOL_SIZE = 20  # PostgreSQL connections per node; `tongban node` runs as many request threads


def stored_moment(moment: datetime) -> datetime:
    """A moment as it goes into the database: UTC, since SQLite keeps no offset."""
    return moment.astimezone(UTC)


def read_moment(moment: datetime) -> datetime:
    """A moment as it comes out: SQLite gives it back naive, and it was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        _sqlite_pragmas(engine)
        return engine
    if url.startswith("postgresql"):
        # As many connections as request threads, kept open: overflow connections were opened
        # and closed on every request under load (bench/). No pre-ping round trip per checkout;
        # connections are recycled instead, and a dead one fails that request with a 503.
        return create_engine(
            url, pool_size=POOL_SIZE, max_overflow=0, pool_recycle=1800, pool_timeout=30
        )
    return create_engine(url, poolclass=NullPool)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus the two kinds of transaction the services need."""

    def __init__(self, url: str, metadata: MetaData) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.metadata = metadata
        self.is_sqlite = url.startswith("sqlite")
        self._writer = threading.Lock()

    def prepare(self, schema: Schema, migrate: bool) -> None:
        """Upgrade the schema to this version's head, or refuse to run on one that is behind."""
        if migrate:
            upgrade_to_head(self.engine, schema)
        else:
            ensure_current(
                self.engine, schema, self.engine.url.render_as_string(hide_password=True)
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any error.

        On SQLite, writers of this process queue on a lock first: SQLite's own busy handler
        sleeps with growing back-off and is unfair, which made tail latency seconds long.
        """
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._writer, self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
