"""Build (or reopen) the demo network: 41 regions seeded with sample reference data.

Seeding is idempotent per node (a ``seeded`` mark in the node's own database), so reopening a
data directory finds everything as it was. Hospital API keys are random; the demo keeps their
plain text in ``demo-credentials.json`` (mode 0600) so a person can try the API by hand.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tongban.bootstrap import EmbeddedNetwork
from tongban.domain.filing import FilingKind, validity_end
from tongban.domain.regions import yrd_regions
from tongban.service_layer.home_side import COMMITMENT_TEXT
from tongban.service_layer.node import InsuredPerson
from tongban.service_layer.records import FilingRecord, InstitutionRecord

from .sample_catalogue import regional_catalogue
from .sample_institutions import sample_institutions
from .sample_people import SamplePerson, sample_people
from .sample_policies import sample_policies

JINHUA, SHANGHAI, HANGZHOU = "330700", "310000", "330100"
CREDENTIALS = "demo-credentials.json"
POPULATION = {JINHUA: 2400, SHANGHAI: 900, HANGZHOU: 900}
DEFAULT_POPULATION = 260
Progress = Callable[[str, int], None]


def population(region: str) -> int:
    return POPULATION.get(region, DEFAULT_POPULATION)


def sample_filings(
    region: str, people: tuple[SamplePerson, ...], seed: int, today: date
) -> list[tuple[str, FilingRecord]]:
    """About a third of the insured have filed: long-term movers, referrals, other trips.

    Targets lean towards Shanghai, as the field reports do (70% of Jinhua's patients go there).
    """
    rng = random.Random(f"filings/{region}/{seed}")
    others = [r.code for r in yrd_regions() if r.code != region]
    out: list[tuple[str, FilingRecord]] = []
    for person in people:
        draw = rng.random()
        if draw > 0.34:
            continue
        kind = (
            rng.choice(
                [
                    FilingKind.RETIRED_RESETTLED,
                    FilingKind.LONG_TERM_RESIDENT,
                    FilingKind.POSTED_WORKER,
                ]
            )
            if draw < 0.10
            else FilingKind.REFERRAL
            if draw < 0.16
            else FilingKind.OTHER
        )
        roll = rng.random()
        if region != SHANGHAI and roll < 0.6:
            target = SHANGHAI
        elif roll < 0.75:
            target = rng.choice(others)[:2] + "0000"  # a whole province
            if target == region[:2] + "0000":
                target = rng.choice(others)
        else:
            target = rng.choice(others)
        start = today - timedelta(days=rng.randint(5, 150))
        out.append(
            (
                person.id_number,
                FilingRecord(
                    filing_id=uuid.UUID(int=rng.getrandbits(128)).hex,
                    person_id=0,
                    kind=kind.value,
                    target_region=target,
                    start_date=start,
                    end_date=validity_end(kind, start, None),
                    revoked_on=None,
                    commitment=COMMITMENT_TEXT,
                    created_at=datetime.combine(start, datetime.min.time(), UTC),
                ),
            )
        )
    return out


def open_demo_network(
    data_dir: Path,
    seed: int,
    today: date,
    progress: Progress | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[EmbeddedNetwork, dict[str, str]]:
    """Open the network in ``data_dir``, seeding any node that has not been seeded yet.

    Returns the network and the hospital API keys (institution code -> key).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    network = (
        EmbeddedNetwork(data_dir, clock=clock) if clock else EmbeddedNetwork(data_dir)
    ).open()
    keys = seed_sample_data(network, seed, today, progress)
    return network, keys


SAMPLE_RESERVE = 100_000_000  # fen: 1,000,000 yuan per region, a sample figure


def seed_sample_data(
    network: EmbeddedNetwork, seed: int, today: date, progress: Progress | None = None
) -> dict[str, str]:
    """Seed every node of the network not seeded yet; returns all hospital API keys.

    The keys are kept in ``demo-credentials.json`` (mode 0600) beside the databases.
    """
    path = network.data_dir / CREDENTIALS
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for code, runtime in network.nodes.items():
        with runtime.store.read() as tx:
            seeded = tx.meta("seeded")
        if not seeded:
            keys.update(_seed_node(network, code, seed, today))
            path.touch(mode=0o600)
            path.chmod(0o600)  # hospital API keys: readable by the operator only
            path.write_text(json.dumps(keys, indent=0))
        if progress:
            progress(code, 1)
    return keys


def _seed_node(network: EmbeddedNetwork, code: str, seed: int, today: date) -> dict[str, str]:
    runtime = network.nodes[code]
    node = runtime.service
    keys = {i.code: "tbk_" + secrets.token_urlsafe(24) for i in sample_institutions(code)}
    people = sample_people(code, population(code), seed)
    pseudonyms = node.load_reference(
        institutions=[
            (InstitutionRecord(i.code, i.name, i.level, i.enabled), keys[i.code])
            for i in sample_institutions(code)
        ],
        catalogue=regional_catalogue(code),
        policies=sample_policies(code),
        people=[InsuredPerson(p.id_number, p.name, p.insutype, p.account_balance) for p in people],
        filings=sample_filings(code, people, seed, today),
    )
    runtime.exchange.call("hub", "locator.register", {"pseudonyms": pseudonyms})
    # Each region's opening reserve (预付金) at the hub; the id makes a re-seed a no-op.
    network.hub.clearing.deposit(code, SAMPLE_RESERVE, f"deposit:{code}:opening")
    with runtime.store.write() as tx:
        tx.set_meta("seeded", json.dumps({"seed": seed, "on": today.isoformat()}))
        tx.set_meta("sample_notice", "sample parameters for demonstration only")
    return keys
