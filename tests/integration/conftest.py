"""Integration fixtures: store backends (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_schemas import pg_schema_urls
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from network_fixtures import SmallNetwork, build_small_network

PG_ENV = "TONGBAN_TEST_PG_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server, dropped at the end of the session.

    Skipped with a message when no server is reachable, except in CI, where it fails.
    """
    base = os.environ.get(PG_ENV, DEFAULT_PG)
    name = f"tongban_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {base} ({exc.__class__.__name__}); set {PG_ENV}"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url_for(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str] | None:
    """Where each node's database lives: SQLite files (None = default) or PostgreSQL schemas."""
    if request.param == "sqlite":
        return None
    server_url: str = request.getfixturevalue("pg_server_url")
    return pg_schema_urls(server_url)


@pytest.fixture
def net(tmp_path: Path, db_url_for: Callable[[str], str] | None) -> Iterator[SmallNetwork]:
    """The small test network (tests/network_fixtures.py) on each store in turn."""
    network = build_small_network(tmp_path, db_url_for=db_url_for)
    yield network
    network.close()
