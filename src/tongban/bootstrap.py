"""Wiring: build nodes and the hub from adapters, and the embedded network of them.

This is the only module that knows both the services and the concrete adapters.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.adapters.code_sender import MemoryCodeSender
from tongban.adapters.columnar import match_stored
from tongban.adapters.directory_cache import DirectoryCache
from tongban.adapters.exchange import Exchange, Gate
from tongban.adapters.signing import (
    load_or_create_key,
    pseudonym,
    public_key_b64,
    sign,
    verify,
)
from tongban.adapters.storage.clearing_store import ClearingStore
from tongban.adapters.storage.database import sqlite_url
from tongban.adapters.storage.hub_store import HubStore, open_hub_store
from tongban.adapters.storage.node_store import NodeStore, open_node_store
from tongban.adapters.transport import InProcessTransport, RoutingTransport, Transport
from tongban.domain.directory import HUB, Member
from tongban.domain.regions import region as region_info
from tongban.domain.regions import yrd_regions
from tongban.service_layer.clearing import RESERVE_ALERT_MONTHS, ClearingHub
from tongban.service_layer.hub import Hub
from tongban.service_layer.national import NationalInterface
from tongban.service_layer.node import NodeService
from tongban.service_layer.operators import OperatorKeys, node_operator_keys
from tongban.service_layer.region_view import RegionView
from tongban.service_layer.resident_settlements import ResidentSettlements
from tongban.service_layer.residents import CodeSender, Residents


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class NodeRuntime:
    region: str
    service: NodeService
    gate: Gate
    exchange: Exchange
    directory: DirectoryCache
    store: NodeStore
    public_key: str
    residents: Residents
    code_sender: CodeSender
    view: RegionView
    operators: OperatorKeys
    settlements: ResidentSettlements
    national: NationalInterface

    def handler(self) -> Callable[[bytes], bytes]:
        return self.gate.serve(self.service.handle)

    def close(self) -> None:
        self.store.db.dispose()


@dataclass
class HubRuntime:
    hub: Hub
    gate: Gate
    store: HubStore
    public_key: str
    clearing: ClearingHub
    exchange: Exchange
    operators: OperatorKeys

    def handler(self) -> Callable[[bytes], bytes]:
        return self.gate.serve(self.hub.handle)

    def close(self) -> None:
        self.store.db.dispose()


def build_node(
    region: str,
    db_url: str,
    key: Ed25519PrivateKey,
    transport: Transport,
    hub_endpoint: str,
    hub_public_key: str,
    locator_key: bytes,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    code_sender: CodeSender | None = None,
    demo_codes: bool = False,
) -> NodeRuntime:
    """``code_sender`` delivers residents' sign-in codes (default: kept in memory, shown in the
    sign-in answer only with ``demo_codes``, which is for the demo alone)."""
    store = open_node_store(db_url, migrate)

    def load() -> str | None:
        with store.read() as tx:
            return tx.meta("directory")

    def save(value: str) -> None:
        with store.write() as tx:
            tx.set_meta("directory", value)

    directory = DirectoryCache(hub_public_key, hub_endpoint, load, save, clock)
    exchange = Exchange(
        region,
        key,
        directory.endpoint_of,
        directory.public_key_of,
        transport,
        clock=lambda: clock().timestamp(),
    )
    directory.fetch = lambda: exchange.call(HUB, "directory.get", {})
    service = NodeService(
        region,
        store,
        exchange,
        lambda n: pseudonym(locator_key, n),
        clock,
        hub_signed=lambda data, signature: verify(hub_public_key, data, signature),
    )
    gate = Gate(region, key, directory.public_key_of, clock=lambda: clock().timestamp())
    sender = code_sender or MemoryCodeSender(show_codes=demo_codes)
    residents = Residents(store, service.home, sender, clock)
    view = RegionView(region, store, lambda: service.catalogue, lambda: service.policies)
    return NodeRuntime(
        region,
        service,
        gate,
        exchange,
        directory,
        store,
        public_key_b64(key),
        residents,
        sender,
        view,
        node_operator_keys(store),
        ResidentSettlements(store, exchange),
        NationalInterface(
            region,
            store,
            service.visit,
            service.reconciliation,
            lambda: service.catalogue,
            clock,
        ),
    )


def build_hub(
    db_url: str,
    key: Ed25519PrivateKey,
    endpoint: str,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    transport: Transport | None = None,
) -> HubRuntime:
    store = open_hub_store(db_url, migrate)
    hub = Hub(store, endpoint, lambda data: sign(key, data), clock)
    gate = Gate(HUB, key, hub.public_key_of, clock=lambda: clock().timestamp())
    exchange = Exchange(
        HUB,
        key,
        hub.endpoint_of,
        hub.public_key_of,
        transport or RoutingTransport(),  # the hub calls nodes only to clear
        clock=lambda: clock().timestamp(),
    )
    clearing_store = ClearingStore(store.db)
    clearing = ClearingHub(
        clearing_store,
        exchange,
        hub.regions,
        lambda period: match_stored(clearing_store.url, period),
        lambda data: sign(key, data),
        clock,
        threshold_months=Decimal(store.meta(RESERVE_ALERT_MONTHS) or "2"),
    )
    operators = OperatorKeys(store.meta, store.set_meta)
    return HubRuntime(hub, gate, store, public_key_b64(key), clearing, exchange, operators)


@dataclass(frozen=True)
class DataLayout:
    """Where a network keeps its files: the one place that knows the layout of a data dir.

    ``hub/hub.db`` + ``hub/hub.key``; ``nodes/<region>/node.db`` + ``node.key``;
    ``network/locator.key`` (the members' shared pseudonym key).
    """

    root: Path

    def directory(self, name: str) -> Path:
        return self.root / "hub" if name == HUB else self.root / "nodes" / name

    def key(self, name: str) -> Ed25519PrivateKey:
        return load_or_create_key(self.directory(name) / ("hub.key" if name == HUB else "node.key"))

    def database_path(self, name: str) -> Path:
        return self.directory(name) / ("hub.db" if name == HUB else "node.db")

    def sqlite_url(self, name: str) -> str:
        path = self.database_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite_url(path)

    def locator_key(self) -> bytes:
        """The shared pseudonym key, created on first use (mode 0600)."""
        path = self.root / "network" / "locator.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())


@dataclass
class EmbeddedNetwork:
    """The hub and a set of nodes in one process, each with its own database.

    Files live in ``data_dir`` as ``DataLayout`` says. Messages still travel as signed bytes
    through a transport, exactly as over HTTP.
    """

    data_dir: Path
    transport: Transport | None = None
    clock: Callable[[], datetime] = utc_now
    db_url_for: Callable[[str], str] | None = None  # region or "hub" -> URL; default SQLite files
    hub: HubRuntime = field(init=False)
    nodes: dict[str, NodeRuntime] = field(init=False, default_factory=dict)
    inproc: InProcessTransport = field(init=False)

    def open(self, regions: Iterable[str] | None = None) -> EmbeddedNetwork:
        codes = list(regions) if regions is not None else [r.code for r in yrd_regions()]
        # Hub and nodes register on the in-process part of the transport they are given.
        inproc = getattr(self.transport, "inproc", None)
        self.inproc = inproc if isinstance(inproc, InProcessTransport) else InProcessTransport()
        if self.transport is None:
            self.transport = RoutingTransport(self.inproc)
        layout = DataLayout(self.data_dir)
        locator_key = layout.locator_key()
        self.hub = build_hub(
            self._db_url(HUB),
            layout.key(HUB),
            "inproc://hub",
            self.clock,
            transport=self.transport,
        )
        self.inproc.register("inproc://hub", self.hub.handler())
        admitted = {m.region: m for m in self.hub.store.members()}
        new_members = []
        for code in codes:
            runtime = build_node(
                code,
                self._db_url(code),
                layout.key(code),
                self.transport,
                "inproc://hub",
                self.hub.public_key,
                locator_key,
                self.clock,
            )
            self.nodes[code] = runtime
            self.inproc.register(f"inproc://{code}", runtime.handler())
            member = Member(code, region_info(code).name_zh, f"inproc://{code}", runtime.public_key)
            if admitted.get(code) != member:
                new_members.append(member)
        if new_members:
            self.hub.hub.admit(new_members)
        for runtime in self.nodes.values():
            if runtime.directory.current is None or new_members:
                runtime.directory.refresh()
        return self

    def _db_url(self, name: str) -> str:
        if self.db_url_for is not None:
            return self.db_url_for(name)
        return DataLayout(self.data_dir).sqlite_url(name)

    def node(self, region: str) -> NodeService:
        return self.nodes[region].service

    def recover_all(self, everything: bool = True) -> dict[str, Any]:
        """Recovery on every node: resolve every settlement left unresolved (at start-up,
        ``everything``; on a schedule, only those past the grace period, so none in flight is
        voided), then complete the national reversals (2601) that waited on a home region."""
        reports = {
            code: n.service.visit.recover(everything=everything) for code, n in self.nodes.items()
        }
        for runtime in self.nodes.values():
            runtime.national.finish_reversals()
        return reports

    def close(self) -> None:
        for runtime in self.nodes.values():
            runtime.close()
        self.hub.close()
