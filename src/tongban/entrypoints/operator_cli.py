"""``tongban operator-key``: give an operator a key to a node's or the hub's read-only routes.

The key is printed once and stored only as a hash; a region's operators get their node's key,
the network operator gets one accepted by the hub and every node (``--data-dir`` alone).
"""

from __future__ import annotations

import typer
from rich.console import Console

from tongban.adapters.storage.hub_store import open_hub_store
from tongban.adapters.storage.node_store import open_node_store
from tongban.entrypoints.db_cli import DataDir, IsHub, Url, _targets
from tongban.service_layer.operators import OperatorKeys, new_operator_key, node_operator_keys

console = Console()


def operator_key(
    data_dir: DataDir = None,
    db: Url = None,
    is_hub: IsHub = False,
    region: str | None = typer.Option(None, help="only this region's node (with --data-dir)"),
) -> None:
    """Make an operator key, install it where asked, and print it (once)."""
    targets = _targets(data_dir, db, is_hub)
    if region is not None:
        targets = [t for t in targets if t[0] == region]
        if not targets:
            console.print(f"[red]error[/]: no node {region} in {data_dir}")
            raise typer.Exit(2)
    key = new_operator_key()
    for name, url, schema in targets:
        if schema == "hub":
            hub = open_hub_store(url, migrate=False)
            OperatorKeys(hub.meta, hub.set_meta).add(key)
            hub.db.dispose()
        else:
            node = open_node_store(url, migrate=False)
            node_operator_keys(node).add(key)
            node.db.dispose()
        console.print(f"installed at {name}")
    console.print(f"operator key (shown once, stored hashed): [bold]{key}[/]")



