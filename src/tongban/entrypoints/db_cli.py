"""``tongban db``: see and upgrade the schema of a node's or the hub's database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.adapters.storage.database import make_engine
from tongban.adapters.storage.migrations import Schema, current, head, upgrade_to_head
from tongban.bootstrap import DataLayout
from tongban.entrypoints.process_cli import NETWORK_FILE, default_database_url

console = Console()
db_app = typer.Typer(help="Database schema: status and upgrade (Alembic migrations).")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="every database of this network's data dir")
]
Url = Annotated[str | None, typer.Option("--db", help="one database URL (with --node or --hub)")]
IsHub = Annotated[bool, typer.Option("--hub/--node", help="the --db database is the hub's")]


def _targets(data_dir: Path | None, db: str | None, is_hub: bool) -> list[tuple[str, str, Schema]]:
    if db:
        return [("hub" if is_hub else "node", db, "hub" if is_hub else "node")]
    if data_dir is None:
        raise typer.BadParameter("give --data-dir, or --db URL with --node or --hub")
    targets: list[tuple[str, str, Schema]] = []
    if DataLayout(data_dir).database_path("hub").exists():
        targets.append(("hub", default_database_url(data_dir, "hub"), "hub"))
    settings = data_dir / NETWORK_FILE
    databases = json.loads(settings.read_text()).get("databases", {}) if settings.exists() else {}
    nodes = data_dir / "nodes"
    regions = sorted({p.name for p in nodes.iterdir()} if nodes.exists() else set())
    for region in sorted(set(regions) | set(databases)):
        url = databases.get(region) or default_database_url(data_dir, region)
        targets.append((region, url, "node"))
    return targets


@db_app.command()
def status(data_dir: DataDir = None, db: Url = None, is_hub: IsHub = False) -> None:
    """Show each database's schema revision against the one this tongban needs."""
    table = Table("database", "revision", "needed", "state")
    behind = 0
    for name, url, schema in _targets(data_dir, db, is_hub):
        engine = make_engine(url)
        try:
            found = current(engine)
        finally:
            engine.dispose()
        ok = found == head(schema)
        behind += not ok
        table.add_row(name, found or "(empty)", head(schema), "current" if ok else "BEHIND")
    console.print(table)
    if behind:
        console.print(f"{behind} behind: run `tongban db upgrade` with the same options")
        raise typer.Exit(1)


@db_app.command()
def upgrade(data_dir: DataDir = None, db: Url = None, is_hub: IsHub = False) -> None:
    """Apply the migrations each database lacks (safe to run again)."""
    for name, url, schema in _targets(data_dir, db, is_hub):
        engine = make_engine(url)
        try:
            before = current(engine)
            upgrade_to_head(engine, schema)
        finally:
            engine.dispose()
        moved = (
            "already current" if before == head(schema) else f"{before or 'empty'} → {head(schema)}"
        )
        console.print(f"{name}: {moved}")
