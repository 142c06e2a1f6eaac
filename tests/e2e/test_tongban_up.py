"""`tongban up network.toml`: a whole local network as child processes, stopped by Ctrl-C.

`up` runs as a real process (the console script) on free ports in a tmp dir. A Shanghai
hospital settles a Jinhua employee's bill over HTTP; SIGINT to `up` alone stops every child
and `up` exits 0. Run again on the same data dir (Hangzhou added), the keys and the earlier
settlement are still there. One node on PostgreSQL does the same; a bad file starts nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tongban.demo.sample_institutions import sample_institutions
from tongban.demo.sample_people import sample_people
from tongban.entrypoints.cli import app
from tongban.entrypoints.up_cli import database_text

TONGBAN = Path(sys.executable).with_name("tongban")
SHANGHAI, JINHUA, HANGZHOU = "310000", "330700", "330100"
BILL = [{"code": "001102000010000", "quantity": "2", "unit_price": 2500}]
PG_ENV = "TONGBAN_TEST_PG_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, urls: dict[str, str], dbs: dict[str, str] | None = None) -> Path:
    lines = ['data_dir = "net"', "sample_data = true", "seed = 2026", "start_timeout = 40",
             "[hub]", f'listen = "{urls["hub"].removeprefix("http://")}"']
    for region, url in urls.items():
        if region != "hub":
            lines += ["[[node]]", f'region = "{region}"', f'listen = "{url[7:]}"']
            if dbs and region in dbs:
                lines.append(f'db = "{dbs[region]}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def children_of(pid: int) -> list[int]:
    """Child pids from /proc: the field after a process's (name) is its state, then its ppid."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    log: Path
    urls: dict[str, str]
    children: list[int]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        """SIGINT to `up` alone (as Ctrl-C would): it exits 0 and no child is left."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=10) == 0, self.output()
        for pid in self.children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        return self.output()


@pytest.fixture
def launch() -> Iterator[Any]:
    """Starts `tongban up`; whatever happens in the test, every process is killed after it."""
    started: list[Up] = []

    def start(config: Path, urls: dict[str, str]) -> Up:
        log = config.with_suffix(f".{len(started)}.log")
        with log.open("wb") as out:
            process = subprocess.Popen([str(TONGBAN), "up", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT)
        up = Up(process, log, urls, [])
        started.append(up)
        deadline = time.monotonic() + 45
        while "running: Ctrl-C" not in up.output():  # printed once every child is healthy
            assert process.poll() is None, f"up exited with {process.returncode}:\n{up.output()}"
            assert time.monotonic() < deadline, f"up did not start:\n{up.output()}"
            time.sleep(0.1)
        for url in urls.values():
            assert httpx.get(f"{url}/v1/health", timeout=5, trust_env=False).status_code == 200
        up.children = children_of(process.pid)
        assert len(up.children) == len(urls), up.output()
        return up

    yield start
    for up in started:
        for pid in up.children:  # only if still ours: a pid may be reused once a child is gone
            with contextlib.suppress(OSError):
                if str(up.log.parent).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
        up.process.kill()
        up.process.wait(timeout=10)


def settle(up: Up, data_dir: Path, settlement_id: str) -> tuple[dict[str, Any], str]:
    """A Shanghai hospital settles a Jinhua employee's bill; returns the answer and its key."""
    keys = json.loads((data_dir / "demo-credentials.json").read_text())
    hospital = next(i for i in sample_institutions(SHANGHAI) if i.enabled and i.code in keys)
    employee = next(p for p in sample_people(JINHUA, 2400, 2026) if p.insutype == "310")
    with httpx.Client(base_url=f"{up.urls[SHANGHAI]}/v1", timeout=30, trust_env=False,
                      headers={"Authorization": f"Bearer {keys[hospital.code]}"}) as his:
        visit = his.post("/visits", json={"institution_code": hospital.code,
                                          "id_number": employee.id_number})
        assert visit.status_code == 201, visit.text
        assert visit.json()["home_region"] == JINHUA
        settled = his.post("/settlements", json={"settlement_id": settlement_id, "lines": BILL,
                                                 "visit_id": visit.json()["visit_id"]})
        assert settled.status_code == 200, settled.text
        assert settled.json()["status"] == "SETTLED"
        assert settled.json()["split"]["medfee_sumamt"] == 5000
        return dict(settled.json()), str(keys[hospital.code])


def test_up_settles_stops_on_sigint_and_restarts_with_the_same_keys_and_data(
    tmp_path: Path, launch: Any
) -> None:
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("hub", SHANGHAI, JINHUA)}
    config = write_config(tmp_path / "network.toml", urls)
    data_dir = tmp_path / "net"  # relative to the TOML file

    first = launch(config, urls)
    assert "initialising network" in first.output()
    assert "上海市" in first.output() and "金华市" in first.output()
    settled, key = settle(first, data_dir, "up-1")
    node_key = (data_dir / "nodes" / SHANGHAI / "node.key").read_bytes()
    hub_key = (data_dir / "hub" / "hub.key").read_bytes()
    out = first.stop()
    assert "stopped node 330700" in out and "stopped hub" in out

    # Again, with Hangzhou added: re-admitted, nothing regenerated, nothing lost.
    urls[HANGZHOU] = f"http://127.0.0.1:{free_port()}"
    second = launch(write_config(config, urls), urls)
    assert "updating network" in second.output()
    assert (data_dir / "nodes" / SHANGHAI / "node.key").read_bytes() == node_key
    assert (data_dir / "hub" / "hub.key").read_bytes() == hub_key
    again = httpx.get(f"{urls[SHANGHAI]}/v1/settlements/up-1", trust_env=False,
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "SETTLED" and again.json()["split"] == settled["split"]
    directory = httpx.get(f"{urls['hub']}/v1/directory", trust_env=False, timeout=10).json()
    members = {m["region"]: m["endpoint"] for m in directory["directory"]["members"]}
    assert members == {code: url for code, url in urls.items() if code != "hub"}
    second.stop()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database; skipped when none is reachable, except in CI."""
    base = os.environ.get(PG_ENV, DEFAULT_PG)
    name = f"tongban_up_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {base} ({exc.__class__.__name__}); set {PG_ENV}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_up_with_jinhua_on_postgresql(tmp_path: Path, launch: Any, pg_database: str) -> None:
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("hub", SHANGHAI, JINHUA)}
    up = launch(write_config(tmp_path / "pg.toml", urls, {JINHUA: pg_database}), urls)
    assert "postgresql" in up.output()
    settle(up, tmp_path / "net", "up-pg-1")
    up.stop()
    engine = create_engine(pg_database)  # the home side's record is in PostgreSQL indeed
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM home_settlements")).scalar() == 1
    engine.dispose()


def bad_file(tmp_path: Path, node: str) -> Path:
    config = tmp_path / "bad.toml"
    config.write_text(f'data_dir = "net"\n[hub]\nlisten = "127.0.0.1:2"\n[[node]]\n{node}\n')
    return config


def test_an_unknown_region_is_refused_with_status_2_and_nothing_started(tmp_path: Path) -> None:
    config = bad_file(tmp_path, 'region = "999999"\nlisten = "127.0.0.1:1"')
    done = subprocess.run([str(TONGBAN), "up", str(config)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "[[node]] #1 (region 999999) region: 999999 is not a Yangtze River Delta region" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr and not (tmp_path / "net").exists()


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        ('region = "330700"', "[[node]] #1 (region 330700) listen: is missing"),
        ('region = "330700"\nlisten = "127.0.0.1:1"\ncolor = "red"', "color: is not a known key"),
        ('region = "330700"\nlisten = "127.0.0.1:2"', "hub and node 330700 both listen on port 2"),
        ('region = "330700"\nlisten = "8101"', "listen: '8101' is not HOST:PORT"),
    ],
)
def test_a_bad_file_is_refused_with_status_2_and_nothing_started(
    tmp_path: Path, node: str, problem: str
) -> None:
    # In-process, to keep the suite quick: the subprocess case above covers the real command.
    done = CliRunner().invoke(app, ["up", str(bad_file(tmp_path, node))])
    assert done.exit_code == 2, done.output
    assert problem in " ".join(done.output.split())  # rich may wrap a long line
    assert isinstance(done.exception, SystemExit) and not (tmp_path / "net").exists()


def test_the_table_hides_database_passwords() -> None:
    shown = database_text("postgresql+psycopg://tb:s3cret@db.example/tongban", Path("/x"))
    assert "s3cret" not in shown and shown.startswith("postgresql")
    assert database_text("sqlite:////x/nodes/310000/node.db", Path("/x")) == (
        "sqlite nodes/310000/node.db"
    )
