"""Run the network as separate processes over HTTP: ``network init``, ``hub``, ``node``."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from tongban.adapters.storage.database import POOL_SIZE
from tongban.adapters.storage.migrations import SchemaBehind
from tongban.adapters.transport import RoutingTransport
from tongban.bootstrap import DataLayout, EmbeddedNetwork, build_hub, build_node
from tongban.domain.calendar import SHANGHAI
from tongban.domain.directory import Member
from tongban.domain.identifiers import parse_region_code
from tongban.domain.regions import region as region_info
from tongban.errors import TongbanError

console = Console()
network_app = typer.Typer(help="Prepare a network whose hub and nodes run as separate processes.")
NETWORK_FILE = Path("network") / "network.json"

DataDir = Annotated[Path, typer.Option("--data-dir", help="the network's data directory")]


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{value!r} is not HOST:PORT")
    return host, int(port)


@network_app.command("init")
def init(
    data_dir: DataDir,
    hub: Annotated[str, typer.Option(help="the hub's base URL, e.g. http://127.0.0.1:8100")],
    node: Annotated[list[str], typer.Option(help="REGION=URL, once per node")],
    db: Annotated[
        list[str] | None,
        typer.Option(help="REGION=URL: put that node's database there (default: SQLite)"),
    ] = None,
    sample_data: Annotated[bool, typer.Option(help="seed the demo's sample data")] = False,
    seed: Annotated[int, typer.Option(help="seed for the sample data")] = 2026,
) -> None:
    """Create keys and databases, admit the nodes with their URLs, publish the directory.

    Safe to run again: keys and seeded data are reused; new nodes and changed URLs re-admitted.
    """
    endpoints = _pairs(node, "--node")
    databases = _pairs(db or [], "--db")
    unknown = set(databases) - set(endpoints)
    if unknown:
        raise typer.BadParameter(f"--db names regions without --node: {sorted(unknown)}")
    init_network(data_dir, hub, endpoints, databases, sample_data, seed)
    console.print(
        f"network in {data_dir}: hub {hub}, nodes "
        + ", ".join(f"{c} {u}" for c, u in endpoints.items())
    )


def init_network(
    data_dir: Path,
    hub_url: str,
    endpoints: dict[str, str],
    databases: dict[str, str],
    sample_data: bool,
    seed: int,
) -> None:
    """Create (or reopen) the network in ``data_dir`` and admit ``endpoints`` at these URLs.

    Idempotent: keys are created once and kept with each node's data, a node is seeded at most
    once, and regions admitted earlier but not named here keep their entry. ``databases``
    maps a region to its database URL; a region named in ``endpoints`` but not there uses
    SQLite in the data dir. ``tongban network init`` and ``tongban up`` both call this.
    """
    hub_url = hub_url.rstrip("/")
    endpoints = {code: url.rstrip("/") for code, url in endpoints.items()}
    path = data_dir / NETWORK_FILE
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    recorded = {  # earlier regions keep their database; the ones named here get what is asked
        code: url for code, url in previous.get("databases", {}).items() if code not in endpoints
    } | databases
    network = EmbeddedNetwork(
        data_dir,
        db_url_for=lambda name: recorded.get(name) or default_database_url(data_dir, name),
    ).open(endpoints)
    try:
        if sample_data:
            from tongban.demo.network import seed_sample_data

            seed_sample_data(network, seed, datetime.now(SHANGHAI).date())
        # open() admits the nodes at in-process URLs for seeding; the real URLs go in last.
        network.hub.hub.endpoint = hub_url
        network.hub.hub.admit(
            [
                Member(code, region_info(code).name_zh, url, network.nodes[code].public_key)
                for code, url in endpoints.items()
            ]
        )
        # Each node caches the published directory, so it can start while the hub is down.
        for runtime in network.nodes.values():
            runtime.directory.refresh()
        settings = {
            "hub_endpoint": hub_url,
            "hub_public_key": network.hub.public_key,
            "databases": recorded,  # nodes not named here use SQLite in the data dir
            "endpoints": previous.get("endpoints", {}) | endpoints,
            "sample_data": bool(previous.get("sample_data")) or sample_data,
        }
    finally:
        network.close()
    partial = path.with_suffix(".tmp")  # never leave a half-written network.json behind
    partial.write_text(json.dumps(settings, indent=1))
    partial.replace(path)


def read_settings(data_dir: Path) -> dict[str, Any] | None:
    """The network.json of ``data_dir``, or None when no network was initialised there."""
    path = data_dir / NETWORK_FILE
    if not path.exists():
        return None
    settings: dict[str, Any] = json.loads(path.read_text())
    return settings


def hub(
    data_dir: DataDir,
    listen: Annotated[str, typer.Option(help="HOST:PORT")] = "127.0.0.1:8100",
    log_format: Annotated[Literal["json", "text"], typer.Option(help="log lines")] = "json",
) -> None:
    """Serve the hub (directory and person locator)."""
    import uvicorn

    from tongban.entrypoints.api.hub_api import create_hub_app
    from tongban.entrypoints.observability import configure_logging

    configure_logging(json_lines=log_format == "json")
    settings = _settings(data_dir)
    layout = DataLayout(data_dir)
    try:
        runtime = build_hub(
            layout.sqlite_url("hub"), layout.key("hub"), settings["hub_endpoint"], migrate=False
        )
    except SchemaBehind as exc:
        console.print(f"[red]error[/]: {exc.detail}")
        raise typer.Exit(2) from None
    host, port = _listen(listen)
    console.print(f"hub listening on http://{host}:{port}")
    uvicorn.run(
        create_hub_app(
            runtime.hub,
            runtime.handler(),
            clearing=runtime.clearing,
            operators=runtime.operators,
        ),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's own lines go through our (masking) handler
        access_log=False,  # raw paths carry ids: the app logs route templates instead
    )


def node(
    data_dir: DataDir,
    region: Annotated[str, typer.Option(help="the node's region code, e.g. 330700")],
    listen: Annotated[str, typer.Option(help="HOST:PORT")] = "127.0.0.1:8101",
    db: Annotated[
        str | None, typer.Option(help="database URL (default: SQLite in data dir)")
    ] = None,
    workers_threads: Annotated[
        int, typer.Option(help="request threads (PostgreSQL: one pooled connection each)")
    ] = POOL_SIZE,
    log_format: Annotated[Literal["json", "text"], typer.Option(help="log lines")] = "json",
    demo_codes: Annotated[
        bool, typer.Option(help="show residents' sign-in codes in the answer (demo only)")
    ] = False,
) -> None:
    """Serve one region's node (both roles) over HTTP."""
    import anyio.to_thread
    import uvicorn

    from tongban.entrypoints.api.node_api import create_node_app
    from tongban.entrypoints.observability import configure_logging, node_metrics, observe_recovery

    configure_logging(json_lines=log_format == "json")
    settings = _settings(data_dir)
    layout = DataLayout(data_dir)
    key = layout.key(region)
    locator_key = layout.locator_key()
    url = db or node_database_url(data_dir, region)
    try:
        runtime = build_node(
            region,
            url,
            key,
            RoutingTransport(),
            settings["hub_endpoint"],
            settings["hub_public_key"],
            locator_key,
            migrate=False,  # upgrading is the operator's explicit step: `tongban db upgrade`
            demo_codes=demo_codes,
        )
    except SchemaBehind as exc:
        console.print(f"[red]error[/]: {exc.detail}")
        raise typer.Exit(2) from None
    try:
        runtime.directory.refresh()
    except TongbanError as exc:
        console.print(f"[yellow]hub unreachable ({exc.code}); using the cached directory[/]")
    stop = threading.Event()
    metrics = node_metrics(runtime.service)

    def recover() -> None:
        # start-up: nothing is in flight yet
        observe_recovery(metrics, runtime.service.visit.recover(everything=True))
        runtime.national.finish_reversals()  # 2601s left pending while a home was away
        while not stop.wait(30):
            observe_recovery(metrics, runtime.service.visit.recover())
            runtime.national.finish_reversals()

    threading.Thread(target=recover, daemon=True).start()
    host, port = _listen(listen)
    app = create_node_app(
        runtime.service,
        runtime.handler(),
        metrics,
        residents=runtime.residents,
        view=runtime.view,
        operators=runtime.operators,
        settlements=runtime.settlements,
        national=runtime.national,
    )

    @app.on_event("startup")
    async def _threads() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = workers_threads

    console.print(f"node {region} listening on http://{host}:{port}")
    try:
        # log_config=None: uvicorn's lines through our masking handler; no raw-path access log
        uvicorn.run(
            app, host=host, port=port, log_level="warning", log_config=None, access_log=False
        )
    finally:
        stop.set()
        runtime.close()


def _settings(data_dir: Path) -> dict[str, Any]:
    path = data_dir / NETWORK_FILE
    if not path.exists():
        console.print(f"[red]error[/]: {path} not found: run `tongban network init` first")
        raise typer.Exit(2)
    settings: dict[str, Any] = json.loads(path.read_text())
    return settings


def default_database_url(data_dir: Path, name: str) -> str:
    return DataLayout(data_dir).sqlite_url(name)


def node_database_url(data_dir: Path, region: str) -> str:
    """The database `network init` gave this node (network.json), else its SQLite file."""
    path = data_dir / NETWORK_FILE
    databases = json.loads(path.read_text()).get("databases", {}) if path.exists() else {}
    return str(databases.get(region) or default_database_url(data_dir, region))


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        code, _, value = item.partition("=")
        if not value:
            raise typer.BadParameter(f"{option} takes REGION=VALUE, got {item!r}")
        try:
            out[parse_region_code(code)] = value.rstrip("/")
        except TongbanError as exc:
            raise typer.BadParameter(exc.detail) from None
    return out
