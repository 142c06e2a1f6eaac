"""The simulated network on disk: built once as a template, copied for every seed.

Three regions play both roles: Shanghai, Jinhua and Nanjing each have a few hospitals enabled
for cross-region settlement, the sample catalogue and policies, and a few insured people, some
of them with filings. A node that crashes is gone (its endpoint answers nothing, its engine is
disposed) until it restarts from its database, running its start-up recovery as
``tongban node`` does.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tongban.adapters.storage.node_store import NodeStore
from tongban.bootstrap import DataLayout, EmbeddedNetwork, NodeRuntime, build_node
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.demo.sample_policies import sample_policies
from tongban.domain.directory import HUB
from tongban.domain.filing import FilingKind, validity_end
from tongban.errors import TongbanError
from tongban.faultsim.faults import FaultPlan, NodeCrash
from tongban.faultsim.transport import SimTransport
from tongban.service_layer.home_side import COMMITMENT_TEXT
from tongban.service_layer.node import InsuredPerson, NodeService
from tongban.service_layer.records import FilingRecord, InstitutionRecord

SHANGHAI, JINHUA, NANJING = "310000", "330700", "320100"
REGIONS = (SHANGHAI, JINHUA, NANJING)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday
PEOPLE_PER_REGION = 6
HOSPITALS_PER_REGION = 3


class SimClock:
    """The one clock every node and the hub read; only the simulation moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Person:
    id_number: str
    home_region: str
    insutype: str
    opening_balance: int


@dataclass(frozen=True)
class Cast:
    """Who is in the template: hospitals per region, insured people per home region."""

    hospitals: dict[str, list[str]]
    people: list[Person]


def build_template(path: Path) -> Cast:
    """Build the template network in ``path`` (an empty or missing directory)."""
    network = EmbeddedNetwork(path, clock=lambda: START - timedelta(hours=1)).open(REGIONS)
    try:
        return _seed(network)
    finally:
        network.close()


def template_cast() -> Cast:
    """The cast of any template, without opening it (it is derived from fixed seeds)."""
    hospitals = {r: [i.code for i in _hospitals(r)] for r in REGIONS}
    people = [
        Person(p.id_number, r, p.insutype, p.account_balance)
        for r in REGIONS
        for p in sample_people(r, PEOPLE_PER_REGION, 1)
    ]
    return Cast(hospitals, people)


def _hospitals(region: str) -> list[Any]:
    enabled = [i for i in sample_institutions(region) if i.enabled]
    return sorted(enabled, key=lambda i: (-i.level, i.code))[:HOSPITALS_PER_REGION]


def _seed(network: EmbeddedNetwork) -> Cast:
    for region in REGIONS:
        people = sample_people(region, PEOPLE_PER_REGION, 1)
        others = [r for r in REGIONS if r != region]
        filings = [
            (p.id_number, _filing(i, region, others[i % 2])) for i, p in enumerate(people) if i % 2
        ]
        node = network.node(region)
        pseudonyms = node.load_reference(
            institutions=[
                (InstitutionRecord(i.code, i.name, i.level, i.enabled), None)
                for i in _hospitals(region)
            ],
            catalogue=regional_catalogue(region),
            policies=sample_policies(region),
            people=[
                InsuredPerson(p.id_number, p.name, p.insutype, p.account_balance) for p in people
            ],
            filings=filings,
        )
        network.nodes[region].exchange.call(HUB, "locator.register", {"pseudonyms": pseudonyms})
        network.hub.clearing.deposit(region, 10_000_000, f"deposit:{region}:opening")
    return template_cast()


def _filing(index: int, home: str, target: str) -> FilingRecord:
    kind = FilingKind.REFERRAL if index % 3 else FilingKind.OTHER
    start = date(2026, 2, 1)
    return FilingRecord(
        filing_id=uuid.UUID(int=index + 1 + int(home) * 100).hex,
        person_id=0,
        kind=kind.value,
        target_region=target,
        start_date=start,
        end_date=validity_end(kind, start, None),
        revoked_on=None,
        commitment=COMMITMENT_TEXT,
        created_at=START - timedelta(days=30),
    )


def _no_fsync(store: Any) -> None:
    """Crashes here are simulated at transaction boundaries, not by cutting the power, so
    waiting for the disk (synchronous=FULL, a quarter of the run time) proves nothing."""
    engine = store.db.engine
    engine.dispose()
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=OFF"))


class SimWorld:
    """One seed's network: the template copied to ``workdir``, on the simulated transport."""

    def __init__(self, template: Path, workdir: Path, plan: FaultPlan) -> None:
        shutil.copytree(template, workdir)
        self.plan = plan
        self.clock = SimClock()
        self.transport = SimTransport(plan, self.crashed)
        self.network = EmbeddedNetwork(workdir, transport=self.transport, clock=self.clock)
        self.network.open(REGIONS)
        self.restart_at: dict[str, int] = {}  # crashed region -> step it comes back
        self.crashes: list[str] = []
        self.hub_back_at: int | None = None
        for region in REGIONS:
            self._arm(self.network.nodes[region].store, region)
            _no_fsync(self.network.nodes[region].store)
        _no_fsync(self.network.hub.store)

    # --- who is up ----------------------------------------------------------------------------
    def node(self, region: str) -> NodeService | None:
        return None if region in self.restart_at else self.network.node(region)

    def runtime(self, region: str) -> NodeRuntime:
        return self.network.nodes[region]

    # --- crashes ----------------------------------------------------------------------------
    def _arm(self, store: NodeStore, region: str) -> None:
        """Let the plan kill the node at any write transaction, before or after its commit."""
        original = store.write

        @contextmanager
        def write() -> Iterator[Any]:
            fate = self.plan.crash_at_commit()
            with original() as tx:
                yield tx
                if fate is not None and fate.name == "CRASH_BEFORE_COMMIT":
                    raise NodeCrash(region, fate)
            if fate is not None:
                raise NodeCrash(region, fate)

        store.write = write  # type: ignore[method-assign]

    def crashed(self, crash: NodeCrash) -> None:
        region = crash.region
        if region in self.restart_at:
            return
        self.crashes.append(f"{region}:{crash.when.value}")
        self.network.inproc.unregister(f"inproc://{region}")
        self.network.nodes[region].close()
        self.restart_at[region] = self.transport.step + self.plan.rng.randint(1, 6)

    def restart_due(self, everything: bool = False) -> None:
        for region, due in list(self.restart_at.items()):
            if everything or due <= self.transport.step:
                self.restart(region)

    def restart(self, region: str) -> None:
        layout = DataLayout(self.network.data_dir)
        runtime = build_node(
            region,
            layout.sqlite_url(region),
            layout.key(region),
            self.transport,
            "inproc://hub",
            self.network.hub.public_key,
            layout.locator_key(),
            self.clock,
            migrate=False,
        )
        self._arm(runtime.store, region)
        _no_fsync(runtime.store)
        self.network.nodes[region] = runtime
        self.network.inproc.register(f"inproc://{region}", runtime.handler())
        del self.restart_at[region]
        try:  # start-up recovery, as `tongban node` runs it
            runtime.service.visit.recover(everything=True)
        except NodeCrash as crash:
            self.crashed(crash)
        except TongbanError:
            pass  # what it could not resolve stays for the next round

    # --- the hub ----------------------------------------------------------------------------
    def hub_down(self, steps: int) -> None:
        self.network.inproc.unregister("inproc://hub")
        self.hub_back_at = self.transport.step + steps

    def hub_up_if_due(self, everything: bool = False) -> None:
        if self.hub_back_at is not None and (everything or self.hub_back_at <= self.transport.step):
            self.network.inproc.register("inproc://hub", self.network.hub.handler())
            self.hub_back_at = None

    def close(self) -> None:
        for region, runtime in self.network.nodes.items():
            if region not in self.restart_at:
                runtime.close()
        self.network.hub.close()
