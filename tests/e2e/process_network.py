"""A network of tongban processes on free local ports, for end-to-end tests and benchmarks.

`tongban network init --sample-data` prepares the data dir, then the hub and each node run as
subprocesses of the installed console script (`tongban hub`, `tongban node`), each logging to
``<data dir>/<name>.log``. A node can be SIGKILLed and started again on the same port; its
start-up recovery runs as in production. ``home_status`` asks a home node about a settlement id
as the visit node would (a signed `status` message), so a test sees the other side's story.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tongban.adapters.exchange import seal, signed_part, unseal
from tongban.adapters.signing import load_or_create_key, verify
from tongban.service_layer.ports import Message

TONGBAN = Path(sys.executable).with_name("tongban")
SHANGHAI, JINHUA, NANJING = "310000", "330700", "320100"
HUB = "hub"
SAMPLE_SEED = 2026  # the seed `network init` seeds the sample data with (its default)


class ProcessFailed(RuntimeError):
    """A process exited or did not become healthy; the message ends with its log."""


def free_port() -> int:
    """A free port below the ephemeral range: while a killed node is down, no outgoing
    connection can take its port, so it starts again on the same one."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    below = range(10_000, low)
    for port in random.sample(below, min(50, len(below))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Processes:
    """The hub and nodes of one data dir: started, killed and stopped by name."""

    data_dir: Path
    urls: dict[str, str]  # "hub" or region code -> base URL
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def regions(self) -> list[str]:
        return [name for name in self.urls if name != HUB]

    def db(self, region: str) -> Path:
        return self.data_dir / "nodes" / region / "node.db"

    def keys(self) -> dict[str, str]:
        """Hospital API keys of the sample data (institution code -> key)."""
        keys: dict[str, str] = json.loads((self.data_dir / "demo-credentials.json").read_text())
        return keys

    def start(self, name: str, timeout: float = 30.0) -> None:
        listen = self.urls[name].removeprefix("http://")
        if name == HUB:
            args = ["hub", "--data-dir", str(self.data_dir), "--listen", listen]
        else:
            args = ["node", "--data-dir", str(self.data_dir), "--region", name,
                    "--listen", listen]
        with (self.data_dir / f"{name}.log").open("ab") as log:
            self.running[name] = subprocess.Popen(
                [str(TONGBAN), *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches the test, which stops us
            )
        self.wait_healthy(name, timeout)

    def wait_healthy(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                raise ProcessFailed(
                    f"{name} exited with {self.running[name].returncode}:\n{self.log(name)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.urls[name]}/v1/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise ProcessFailed(f"{name} not healthy within {timeout} s:\n{self.log(name)}")

    def log(self, name: str, lines: int = 30) -> str:
        path = self.data_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up of any kind, as when the machine loses the process."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.running.clear()


def init_network(data_dir: Path, regions: Sequence[str]) -> Processes:
    """`tongban network init --sample-data` for the hub and ``regions``, on free ports."""
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in (HUB, *regions)}
    nodes = [arg for code in regions for arg in ("--node", f"{code}={urls[code]}")]
    subprocess.run(
        [str(TONGBAN), "network", "init", "--data-dir", str(data_dir), "--hub", urls[HUB],
         *nodes, "--sample-data"],
        check=True, capture_output=True, timeout=120,
    )
    return Processes(data_dir, urls)


@contextlib.contextmanager
def running_network(data_dir: Path, regions: Sequence[str]) -> Iterator[Processes]:
    """The initialised network, hub first and then the nodes; everything stopped on the way out."""
    processes = init_network(data_dir, regions)
    try:
        for name in (HUB, *regions):
            processes.start(name)
        yield processes
    finally:
        processes.stop_all()


def home_status(
    network: Processes, settlement_id: str, visit: str = SHANGHAI, home: str = JINHUA
) -> dict[str, Any]:
    """Ask the home node about an id as the visit node would: a signed `status` message."""
    key = load_or_create_key(network.data_dir / "nodes" / visit / "node.key")
    request = Message(sender=visit, recipient=home, msgid=uuid.uuid4().hex,
                      timestamp=int(time.time() * 1000), kind="status",
                      body={"settlement_id": settlement_id})
    response = httpx.post(f"{network.urls[home]}/v1/exchange", content=seal(key, request),
                          headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 200
    reply, signature = unseal(response.content)
    directory = httpx.get(f"{network.urls[HUB]}/v1/directory", timeout=10).json()
    (home_key,) = [m["public_key"] for m in directory["directory"]["members"]
                   if m["region"] == home and m["endpoint"] == network.urls[home]]
    assert verify(home_key, signed_part(reply), signature)
    assert reply.in_reply_to == request.msgid and reply.body["ok"] is True, reply.body
    return dict(reply.body["result"])


def read_rows(db: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a node's SQLite database, opened read-only (the node may be running or dead)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(query, params).fetchall()
