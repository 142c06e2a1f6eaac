"""An operator key made on the command line opens exactly the routes it was installed for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from tests.network_fixtures import JINHUA, SHANGHAI, build_small_network

from tongban.entrypoints.api.embedded import create_network_app

TONGBAN = str(Path(sys.executable).with_name("tongban"))


def make_key(*args: str) -> str:
    done = subprocess.run(
        [TONGBAN, "operator-key", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"tbo_[A-Za-z0-9_-]+", done.stdout)
    assert found, done.stdout
    return found.group(0)


def flows(client: TestClient, region: str, key: str) -> int:
    return client.get(
        f"/nodes/{region}/v1/operator/flows",
        params={"from_date": "2026-11-01", "to_date": "2026-11-30"},
        headers={"Authorization": f"Bearer {key}"},
    ).status_code


def test_a_region_key_opens_that_node_only_and_a_network_key_opens_every_member(
    tmp_path: Path,
) -> None:
    net = build_small_network(tmp_path)
    try:
        # Installed by another process while the network runs: counted at the next request.
        shanghai_key = make_key("--data-dir", str(tmp_path), "--region", SHANGHAI)
        network_key = make_key("--data-dir", str(tmp_path))
        client = TestClient(create_network_app(net.network))
        assert flows(client, SHANGHAI, shanghai_key) == 200
        assert flows(client, JINHUA, shanghai_key) == 401
        assert flows(client, SHANGHAI, network_key) == 200
        assert flows(client, JINHUA, network_key) == 200
        periods = client.get(
            "/console/api/network",
            params={"from_date": "2026-11-01", "to_date": "2026-11-30"},
            headers={"Authorization": f"Bearer {network_key}"},
        )
        assert periods.status_code == 200
        refused = client.get(
            "/console/api/network",
            params={"from_date": "2026-11-01", "to_date": "2026-11-30"},
            headers={"Authorization": f"Bearer {shanghai_key}"},
        )
        assert refused.status_code == 401
        assert refused.json()["code"] == "UNAUTHENTICATED"
    finally:
        net.close()
