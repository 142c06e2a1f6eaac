"""``tongban up network.toml``: a whole local network as separate processes, until Ctrl-C.

The TOML file names the data dir, the hub and the nodes (README: "A network of processes").
``up`` initialises the network the first time with the same code as ``tongban network init``,
re-admits nodes when the file adds regions or moves them, upgrades every database (a local
launcher may; ``tongban node`` on its own refuses a schema that is behind), then runs the hub
and each node as a child process, its output prefixed with its name. Ctrl-C or SIGTERM stops
them all; a child that dies on its own stops the others too.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from tongban.adapters.storage.database import make_engine
from tongban.adapters.storage.migrations import Schema, upgrade_to_head
from tongban.demo.network import CREDENTIALS
from tongban.domain.identifiers import parse_region_code
from tongban.domain.regions import region as region_info
from tongban.entrypoints.process_cli import (
    default_database_url,
    init_network,
    node_database_url,
    read_settings,
)
from tongban.errors import TongbanError

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
GRACE = 5.0  # seconds a child has to stop after SIGTERM before it is killed
STYLES = ["cyan", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_green"]


class _Process(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen: str
    url: str | None = None  # the URL others use; default http://LISTEN

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8101")
        return value

    @property
    def base_url(self) -> str:
        return (self.url or f"http://{self.listen}").rstrip("/")

    @property
    def probe_url(self) -> str:
        """Where ``up`` itself checks health: a wildcard address is reached via loopback."""
        host, _, port = self.listen.rpartition(":")
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"


class HubConfig(_Process):
    listen: str = "127.0.0.1:8100"


class NodeConfig(_Process):
    region: str
    db: str | None = None  # default: SQLite in the data dir

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: object) -> str:
        try:  # a bare 310000 in TOML is an integer: take it as the code it plainly is
            return parse_region_code(str(value) if isinstance(value, int) else value)
        except TongbanError as exc:
            raise ValueError(exc.detail) from None

    @field_validator("db")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        try:
            driver = make_url(value).drivername if value else "sqlite"
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        if not driver.startswith(("sqlite", "postgresql")):
            raise ValueError(f"{driver} is not supported: use sqlite:/// or postgresql+psycopg://")
        return value


class NetworkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: Path = Path("tongban-net")
    sample_data: bool = False
    seed: int = 2026
    start_timeout: float = Field(30.0, gt=0)
    hub: HubConfig = Field(default_factory=HubConfig)
    node: list[NodeConfig] = Field(min_length=1)

    def processes(self) -> list[tuple[str, _Process]]:
        return [("hub", self.hub), *((f"node {n.region}", n) for n in self.node)]

    @model_validator(mode="after")
    def _distinct(self) -> NetworkConfig:
        regions = [n.region for n in self.node]
        twice = sorted({r for r in regions if regions.count(r) > 1})
        if twice:
            raise ValueError(f"region {', '.join(twice)} is given more than once")
        ports: dict[str, str] = {}
        for name, process in self.processes():
            port = process.listen.rpartition(":")[2]
            if port in ports:  # one machine: two listeners on one port collide
                raise ValueError(f"{ports[port]} and {name} both listen on port {port}")
            ports[port] = name
        return self


def _fail(message: str, status: int = 2) -> NoReturn:
    # Text, not markup: messages quote TOML, whose [[node]] rich would take for a tag.
    err.print(Text.assemble(("error", "red"), f": {message}"), soft_wrap=True)
    raise typer.Exit(status)


def _where(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """A pydantic location as the TOML author wrote it: ``[[node]] #2 (330700) listen``."""
    parts: list[str] = []
    items = list(loc)
    while items:
        part = items.pop(0)
        if part == "node" and items and isinstance(items[0], int):
            index = int(items.pop(0))
            nodes = raw.get("node")
            entry = nodes[index] if isinstance(nodes, list) and index < len(nodes) else {}
            region = entry.get("region") if isinstance(entry, dict) else None
            parts.append(f"[[node]] #{index + 1}" + (f" (region {region})" if region else ""))
        else:
            parts.append(f"[{part}]" if part == "hub" else str(part))
    return " ".join(parts)


def load_config(path: Path) -> NetworkConfig:
    """Read and check the TOML file; every problem is reported with the key it concerns."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    except tomllib.TOMLDecodeError as exc:
        _fail(f"{path} is not valid TOML: {exc}")
    try:
        config = NetworkConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _where(error["loc"], raw)
            message = {"missing": "is missing", "extra_forbidden": "is not a known key"}.get(
                error["type"], str(error["msg"]).removeprefix("Value error, ")
            )
            problems.append(f"  {where}: {message}" if where else f"  {message}")
        _fail(f"{path}:\n" + "\n".join(problems))
    config.data_dir = (path.parent / config.data_dir).resolve()  # relative to the TOML file
    return config


@dataclass
class Child:
    name: str  # "hub" or a region code
    args: list[str]
    process_config: _Process
    style: str
    process: subprocess.Popen[bytes] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=15))
    reader: threading.Thread | None = None
    killed: bool = False

    @property
    def label(self) -> str:
        return "hub" if self.name == "hub" else f"node {self.name} {region_info(self.name).name_zh}"

    def start(self) -> None:
        # Unbuffered, so a child's lines show as they come; wide, so rich does not wrap them.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tongban.entrypoints.cli", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.reader = threading.Thread(target=self._pump, name=f"up-{self.name}", daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            # Text, not markup: a child's output is printed as it is, whatever brackets it has.
            console.print(Text.assemble((f"[{self.name}] ", self.style), line), soft_wrap=True)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def last_lines(self) -> str:
        if self.reader is not None:
            self.reader.join(timeout=2)  # the pipe drains once the child is gone
        return "\n".join(f"    {line}" for line in self.tail) or "    (no output)"


class Failure(Exception):
    def __init__(self, child: Child, message: str) -> None:
        super().__init__(message)
        self.child = child


def _describe(code: int) -> str:
    # uvicorn re-raises the signal it stopped on: -15, SIGTERM, is a clean stop.
    names = {int(s): s.name for s in signal.Signals}
    return f"status {code}" if code >= 0 else names.get(-code, f"signal {-code}")


def _check_ports(config: NetworkConfig) -> None:
    for name, process in config.processes():
        host, _, port = process.listen.rpartition(":")
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind((host, int(port)))
            except OSError as exc:
                _fail(f"{name} cannot listen on {process.listen}: {exc.strerror}", 1)


def database_text(url: str, data_dir: Path) -> str:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database:
        path = Path(parsed.database)
        return f"sqlite {path.relative_to(data_dir) if path.is_relative_to(data_dir) else path}"
    return "postgresql " + parsed.render_as_string(hide_password=True).partition("://")[2]


def _needs_init(settings: dict[str, Any] | None, config: NetworkConfig) -> bool:
    if settings is None:
        return True
    endpoints, databases = settings.get("endpoints", {}), settings.get("databases", {})
    return (
        settings.get("hub_endpoint") != config.hub.base_url
        or any(endpoints.get(n.region) != n.base_url for n in config.node)
        or any(databases.get(n.region) != n.db for n in config.node)
        or (config.sample_data and not settings.get("sample_data"))
    )


def _prepare(config: NetworkConfig) -> None:
    """Initialise or re-admit when the file asks for it, then bring every schema to head."""
    data_dir = config.data_dir
    for node in config.node:  # name the node whose database is out of reach, before any work
        if node.db:
            engine = make_engine(node.db)
            try:
                engine.connect().close()
            except SQLAlchemyError as exc:
                reason = str(exc.__cause__ or exc).strip()
                if "does not exist" in reason:
                    reason += f" (create it first: createdb {make_url(node.db).database})"
                _fail(
                    f"node {node.region}: cannot open {database_text(node.db, data_dir)}: "
                    + reason,
                    1,
                )
            finally:
                engine.dispose()
    settings = read_settings(data_dir)
    if _needs_init(settings, config):
        console.print(f"{'initialising' if settings is None else 'updating'} network in {data_dir}")
        init_network(
            data_dir,
            config.hub.base_url,
            {n.region: n.base_url for n in config.node},
            {n.region: n.db for n in config.node if n.db},
            config.sample_data,
            config.seed,
        )
    targets: list[tuple[str, str, Schema]] = [("hub", default_database_url(data_dir, "hub"), "hub")]
    targets += [(n.region, node_database_url(data_dir, n.region), "node") for n in config.node]
    for name, url, schema in targets:
        engine = make_engine(url)
        try:
            upgrade_to_head(engine, schema)
        except SQLAlchemyError as exc:
            _fail(f"{name}: cannot upgrade {database_text(url, data_dir)}: {exc}", 1)
        finally:
            engine.dispose()


def _wait_healthy(children: list[Child], timeout: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(children)
    with httpx.Client(timeout=1, trust_env=False) as client:  # no proxy for our own ports
        while waiting and not stop.is_set():
            for child in list(waiting):
                code = child.exit_code()
                if code is not None:
                    raise Failure(child, f"{child.label} exited with {_describe(code)}")
                try:
                    url = f"{child.process_config.probe_url}/v1/health"
                    if client.get(url).status_code == 200:
                        waiting.remove(child)
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                child = waiting[0]
                raise Failure(
                    child,
                    f"{child.label} did not answer GET {child.process_config.probe_url}"
                    f"/v1/health within {timeout:g} s",
                )
            stop.wait(0.1)


def _stop_all(children: list[Child]) -> None:
    running = [(c, c.process) for c in children if c.process and c.process.poll() is None]
    for _, process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for child, process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.killed = True
            process.kill()
            process.wait()
    for child, process in running:
        child.last_lines()  # let its last lines print before the summary
        how = f"killed after {GRACE:g} s" if child.killed else _describe(process.returncode)
        console.print(f"stopped {child.label} (pid {process.pid}, {how})")


def _table(config: NetworkConfig, children: list[Child]) -> Table:
    table = Table("name", "名称", "URL", title=f"tongban in {config.data_dir}")
    table.add_column("database", overflow="fold")  # folded, never cut: it says where data is
    table.add_column("pid")
    for child in children:
        assert child.process is not None
        hub = child.name == "hub"
        url = (default_database_url if hub else node_database_url)(config.data_dir, child.name)
        table.add_row(
            child.name,
            "—" if hub else region_info(child.name).name_zh,
            child.process_config.base_url,
            database_text(url, config.data_dir),
            str(child.process.pid),
        )
    return table


def up(
    config_file: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="the network's TOML file (README)")
    ],
) -> None:
    """Start the hub and the nodes of a TOML file as separate processes; Ctrl-C stops them."""
    config = load_config(config_file)
    _check_ports(config)
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / "up.lock").open("w")  # held until exit: one `up` per data dir
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _fail(f"another `tongban up` is running on {data_dir}", 1)
    try:
        _prepare(config)
    except KeyboardInterrupt:
        _fail("interrupted before anything started", 130)

    # Children log readable lines here (a person is watching); JSON lines are for log shippers.
    common = ["--data-dir", str(data_dir), "--log-format", "text"]
    hub = Child("hub", ["hub", *common, "--listen", config.hub.listen], config.hub, "magenta")
    nodes = [
        Child(n.region, ["node", *common, "--region", n.region, "--listen", n.listen], n, style)
        for n, style in zip(config.node, STYLES * len(config.node), strict=False)
    ]
    children = [hub, *nodes]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        hub.start()  # nodes fetch the directory at start-up: the hub goes first
        _wait_healthy([hub], config.start_timeout, stop)
        for node in nodes:
            node.start()
        _wait_healthy(nodes, config.start_timeout, stop)
        if not stop.is_set():
            console.print(_table(config, children))
            if (data_dir / CREDENTIALS).exists():
                console.print(f"hospital API keys: {data_dir / CREDENTIALS} (demo only)")
            console.print("running: Ctrl-C stops them all")
        while not stop.wait(0.2):
            dead = next((c for c in children if c.exit_code() is not None), None)
            if dead is not None:
                raise Failure(
                    dead,
                    f"{dead.label} exited unexpectedly with {_describe(dead.exit_code() or 0)}",
                )
    except Failure as failure:
        status = 1
        err.print(Text.assemble(("error", "red"), f": {failure}; its last output:"))
        err.print(Text(failure.child.last_lines()), soft_wrap=True)
    finally:
        _stop_all(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.close()
    raise typer.Exit(status)
