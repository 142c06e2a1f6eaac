"""Schema migrations: the same schema on SQLite and PostgreSQL, upgrades that keep the data,
and nodes that refuse to run on a schema that is behind."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from network_fixtures import EMPLOYEE_ID, JINHUA, RUIJIN, auth, build_small_network, golden_lines
from tongban.adapters.storage.database import sqlite_url
from tongban.adapters.storage.migrations import (
    SchemaBehind,
    _config,
    current,
    head,
    upgrade_to_head,
)
from tongban.adapters.storage.node_store import open_node_store
from tongban.adapters.storage.schema import hub_metadata, node_metadata

TONGBAN = str(Path(sys.executable).with_name("tongban"))


def url_for(db_url_for: Callable[[str], str] | None, tmp_path: Path, name: str) -> str:
    return db_url_for(name) if db_url_for else sqlite_url(tmp_path / f"{name}.db")


@pytest.mark.parametrize(("schema", "metadata"), [("node", node_metadata), ("hub", hub_metadata)])
def test_the_migrated_schema_is_exactly_the_one_the_code_uses(
    db_url_for: Callable[[str], str] | None, tmp_path: Path, schema: str, metadata: object
) -> None:
    engine = create_engine(url_for(db_url_for, tmp_path, schema))
    upgrade_to_head(engine, schema)  # type: ignore[arg-type]
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)  # type: ignore[arg-type]
    engine.dispose()
    assert differences == []


def test_an_upgrade_keeps_every_settlement_and_adds_the_date_indexes(
    db_url_for: Callable[[str], str] | None, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from tongban.entrypoints.api.embedded import create_network_app

    net = build_small_network(tmp_path, db_url_for=db_url_for)
    client = TestClient(create_network_app(net.network))
    visit = client.post(
        "/nodes/310000/v1/visits",
        json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID},
        headers=auth(),
    ).json()["visit_id"]
    settled = client.post(
        "/nodes/310000/v1/settlements",
        json={"settlement_id": "before-upgrade", "visit_id": visit, "lines": golden_lines()},
        headers=auth(),
    ).json()
    home_engine = net.network.nodes[JINHUA].store.db.engine
    url = home_engine.url.render_as_string(hide_password=False)
    net.close()

    # Take the home database back to the first schema revision, data and all.
    engine = create_engine(url)
    config = _config("node", engine)
    command.downgrade(config, "node_0001")
    assert current(engine) == "node_0001"
    with pytest.raises(SchemaBehind) as behind:
        open_node_store(url, migrate=False)
    assert behind.value.code == "SCHEMA_BEHIND"
    assert "tongban db upgrade" in behind.value.detail

    upgrade_to_head(engine, "node")
    indexes = {i["name"] for i in inspect(engine).get_indexes("home_settlements")}
    key = inspect(engine).get_pk_constraint("home_settlements")["constrained_columns"]
    engine.dispose()
    assert "ix_home_settlements_settled_on" in indexes
    assert sorted(key) == ["settlement_id", "visit_region"]  # node_0005, data kept
    store = open_node_store(url, migrate=False)
    with store.read() as tx:
        record = tx.home_settlement("310000", "before-upgrade")
        person = tx.person_by_id_number(EMPLOYEE_ID)
    store.db.dispose()
    assert record is not None and record.status.value == "COMMITTED"
    assert person is not None
    assert person.account_balance == 2000 - settled["split"]["acct_pay"]


def test_tongban_node_refuses_a_behind_database_and_db_upgrade_fixes_it(tmp_path: Path) -> None:
    data = tmp_path / "net"
    init = subprocess.run(
        [TONGBAN, "network", "init", "--data-dir", str(data), "--hub", "http://127.0.0.1:9",
         "--node", "310000=http://127.0.0.1:10"],
        capture_output=True, text=True, timeout=120,
    )
    assert init.returncode == 0, init.stderr
    engine = create_engine(sqlite_url(data / "nodes" / "310000" / "node.db"))
    command.downgrade(_config("node", engine), "node_0001")
    engine.dispose()

    refused = subprocess.run(
        [TONGBAN, "node", "--data-dir", str(data), "--region", "310000", "--listen",
         "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2
    assert "tongban db upgrade" in refused.stdout + refused.stderr

    status = subprocess.run([TONGBAN, "db", "status", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 1 and "BEHIND" in status.stdout
    upgraded = subprocess.run([TONGBAN, "db", "upgrade", "--data-dir", str(data)],
                              capture_output=True, text=True, timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"node_0001 → {head('node')}" in upgraded.stdout
    status = subprocess.run([TONGBAN, "db", "status", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "BEHIND" not in status.stdout
