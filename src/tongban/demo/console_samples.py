"""What the console's demo shows a visitor so every role can be tried without typing secrets:
the network operator's key, a few hospitals (with their API keys) and a few insured people.

Only the demo serves this (``/console/api/demo``); a real node has no such page.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from tongban.bootstrap import EmbeddedNetwork
from tongban.service_layer.home_side import mask_name
from tongban.service_layer.operators import new_operator_key

from .network import population
from .sample_institutions import sample_institutions
from .sample_people import sample_people

OPERATOR_KEY_FILE = "demo-operator.key"
SHOWN_REGIONS = ("310000", "330700", "330100", "320100", "340100")
INSTITUTIONS_PER_REGION = 4
RESIDENTS_PER_REGION = 4


def demo_operator_key(network: EmbeddedNetwork) -> str:
    """The network operator's key of this data directory (made once, kept 0600), accepted by
    the hub and by every node."""
    path = network.data_dir / OPERATOR_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
    else:
        key = new_operator_key()
        _write_private(path, key)
    network.hub.operators.add(key)
    for runtime in network.nodes.values():
        runtime.operators.add(key)
    return key


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def console_samples(
    network: EmbeddedNetwork, keys: dict[str, str], day: date, operator_key: str
) -> dict[str, Any]:
    institutions: list[dict[str, Any]] = []
    residents: list[dict[str, Any]] = []
    for code in SHOWN_REGIONS:
        runtime = network.nodes.get(code)
        if runtime is None:
            continue
        enabled = [i for i in sample_institutions(code) if i.enabled and i.code in keys]
        # The biggest hospitals first: level 3, then 2.
        enabled.sort(key=lambda i: (-i.level, i.code))
        institutions += [
            {
                "region": code,
                "code": i.code,
                "name": i.name,
                "level": i.level,
                "api_key": keys[i.code],
            }
            for i in enabled[:INSTITUTIONS_PER_REGION]
        ]
        with runtime.store.read() as tx:
            seeded = tx.meta("seeded")
            if not seeded:
                continue
            seed = int(json.loads(seeded)["seed"])
            unfiled: list[dict[str, Any]] = []
            filed: list[dict[str, Any]] = []
            for person in sample_people(code, population(code), seed)[:60]:
                record = tx.person_by_id_number(person.id_number)
                if record is None:
                    continue
                entry = {
                    "home_region": code,
                    "id_number": person.id_number,
                    "name": mask_name(person.name),
                    "insutype": person.insutype,
                    "filed": sorted(
                        {f.target_region for f in tx.filings_of(record.person_id)}
                    ),
                }
                (filed if entry["filed"] else unfiled).append(entry)
        residents += unfiled[: RESIDENTS_PER_REGION - 1] + filed[:1]
    return {
        "operator_key": operator_key,
        "date": day,
        "institutions": institutions,
        "residents": residents,
    }
