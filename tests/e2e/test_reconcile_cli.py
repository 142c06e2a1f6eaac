"""`tongban reconcile` as a hospital integrator runs it: the real console script, against a
node served over real HTTP (uvicorn in a thread, the embedded network's URL layout).

Ruijin settles three bills and cancels one; its HIS exports the events as CSV or JSON. Exit
status: 0 balanced, 1 not balanced (each differing settlement printed), 2 an error (code and
detail printed).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from network_fixtures import (
    EMPLOYEE_ID,
    KEYS,
    NANJING_ID,
    RUIJIN,
    SHANGHAI,
    auth,
    build_small_network,
    golden_lines,
    live_server,
)
from tongban.domain.calendar import SHANGHAI as SHANGHAI_TIME
from tongban.entrypoints.api.embedded import create_network_app

TONGBAN = Path(sys.executable).with_name("tongban")
CONSULT = [{"code": "001102000010000", "quantity": "1", "unit_price": 2500}]
COLUMNS = ["settlement_id", "event", "insutype", "medfee_sumamt", "fund_pay", "acct_pay"]


@dataclass
class Node:
    url: str  # the Shanghai node's base URL, as the CLI takes it
    books: list[dict[str, Any]]  # Ruijin's own events, from what the settle answers said
    day: str  # today in Shanghai, when the bills were settled


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    net = build_small_network(tmp_path_factory.mktemp("reconcile"))
    try:
        with live_server(create_network_app(net.network)) as url:
            base = f"{url}/nodes/{SHANGHAI}"
            with httpx.Client(base_url=f"{base}/v1", headers=auth(), timeout=30) as his:
                books = [
                    settle(his, "cli-001", EMPLOYEE_ID, golden_lines()),
                    settle(his, "cli-002", NANJING_ID, CONSULT),
                    settle(his, "cli-003", NANJING_ID, CONSULT * 3),
                ]
                assert his.post("/settlements/cli-002/cancel").json()["status"] == "CANCELLED"
                books.append({**books[1], "event": "cancel"})
            yield Node(base, books, datetime.now(SHANGHAI_TIME).date().isoformat())
    finally:
        net.close()


def settle(
    his: httpx.Client, sid: str, id_number: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    visit = his.post("/visits", json={"institution_code": RUIJIN, "id_number": id_number})
    assert visit.status_code == 201, visit.text
    answer = his.post(
        "/settlements",
        json={"settlement_id": sid, "visit_id": visit.json()["visit_id"], "lines": lines},
    )
    assert answer.status_code == 200, answer.text
    split = answer.json()["split"]
    return {
        "settlement_id": sid,
        "event": "settle",
        "insutype": visit.json()["insutype"],
        "medfee_sumamt": split["medfee_sumamt"],
        "fund_pay": split["hifp_pay"],
        "acct_pay": split["acct_pay"],
    }


def write_csv(path: Path, books: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(books)
    return path


def reconcile(*args: str, key: str | None = KEYS[RUIJIN]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TONGBAN_API_KEY"}
    if key is not None:
        env["TONGBAN_API_KEY"] = key
    return subprocess.run(
        [str(TONGBAN), "reconcile", *args], capture_output=True, text=True, timeout=120, env=env
    )


def run_on_day(
    node: Node, path: Path, *extra: str, key: str | None = KEYS[RUIJIN]
) -> subprocess.CompletedProcess[str]:
    return reconcile(
        "--node",
        node.url,
        "--from",
        node.day,
        "--to",
        node.day,
        "--file",
        str(path),
        *extra,
        key=key,
    )


def test_books_that_match_the_node_exit_0_and_say_balanced(node: Node, tmp_path: Path) -> None:
    done = run_on_day(node, write_csv(tmp_path / "his.csv", node.books))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BALANCED" in done.stdout and "NOT BALANCED" not in done.stdout
    assert RUIJIN in done.stdout and "4 event(s)" in done.stdout
    # golden 142.51 + consult ×3 75.00 stand; cli-002 (25.00) was settled and cancelled.
    assert "217.51" in done.stdout


def test_a_json_export_with_the_key_given_on_the_command_line_balances_too(
    node: Node, tmp_path: Path
) -> None:
    path = tmp_path / "his.json"
    path.write_text(json.dumps(node.books))
    done = run_on_day(node, path, "--api-key", KEYS[RUIJIN], key=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BALANCED" in done.stdout


def test_wrong_books_exit_1_and_name_every_differing_settlement(node: Node, tmp_path: Path) -> None:
    books = [dict(b) for b in node.books if b["settlement_id"] != "cli-003"]  # forgot one
    books[0]["acct_pay"] += 100  # booked one yuan too much from the personal account
    books.append({**node.books[1], "settlement_id": "cli-ghost"})  # never reached the node
    done = run_on_day(node, write_csv(tmp_path / "his.csv", books))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT BALANCED: 3 difference(s)" in done.stdout
    rows = {
        line.split("│")[1].strip(): line
        for line in done.stdout.splitlines()
        if line.count("│") > 3 and "cli-" in line
    }
    assert set(rows) == {"cli-001", "cli-003", "cli-ghost"}
    assert "DIFFERS" in rows["cli-001"] and "acct_pay" in rows["cli-001"]
    assert "MISSING_AT_HOSPITAL" in rows["cli-003"]
    assert "MISSING_AT_NODE" in rows["cli-ghost"]


def test_the_default_range_is_yesterday_in_shanghai(node: Node, tmp_path: Path) -> None:
    yesterday = (datetime.now(SHANGHAI_TIME) - timedelta(days=1)).date()
    done = reconcile("--node", node.url, "--file", str(write_csv(tmp_path / "none.csv", [])))
    assert f"{yesterday} … {yesterday}" in done.stdout, done.stdout + done.stderr
    if node.day == (yesterday + timedelta(days=1)).isoformat():  # not run across midnight
        assert done.returncode == 0, done.stdout  # the bills were all settled today


@pytest.mark.parametrize(
    ("what", "args", "content", "key", "code"),
    [
        ("an unknown API key", (), None, "not-a-key", "UNAUTHENTICATED"),
        ("no API key at all", (), None, None, "UNAUTHENTICATED"),
        ("--to before --from", ("--to", "2020-01-01"), None, KEYS[RUIJIN], "INVALID_DATE_RANGE"),
        (
            "a float amount in the file",
            (),
            '[{"settlement_id": "a", "event": "settle", '
            '"insutype": "310", "medfee_sumamt": 12.5, "fund_pay": 0, "acct_pay": 0}]',
            KEYS[RUIJIN],
            "INVALID_AMOUNT",
        ),
        (
            "a CSV without the amount columns",
            (),
            "settlement_id,event,insutype\na,settle,310\n",
            KEYS[RUIJIN],
            "INVALID_FILE",
        ),
        ("a settle listed twice", (), None, KEYS[RUIJIN], "DUPLICATE_SETTLEMENT"),
        ("not a date", ("--from", "yesterday"), None, KEYS[RUIJIN], "INVALID_DATE"),
    ],
)
def test_errors_exit_2_with_the_problems_code_and_detail(
    node: Node,
    tmp_path: Path,
    what: str,
    args: tuple[str, ...],
    content: str | None,
    key: str | None,
    code: str,
) -> None:
    path = tmp_path / "his.csv"
    if content is None:
        books = [*node.books, node.books[0]] if code == "DUPLICATE_SETTLEMENT" else node.books
        write_csv(path, books)
    else:
        path.write_text(content)
    done = reconcile(
        "--node",
        node.url,
        "--from",
        node.day,
        "--to",
        node.day,
        *args,
        "--file",
        str(path),
        key=key,
    )
    assert done.returncode == 2, (what, done.stdout, done.stderr)
    assert code in done.stderr, (what, done.stderr)
    assert "BALANCED" not in done.stdout


def test_a_node_that_does_not_answer_exits_2(tmp_path: Path) -> None:
    with free_socket() as sock:  # bound, never listening: the connection is refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        done = reconcile(
            "--node",
            url,
            "--from",
            "2026-11-20",
            "--file",
            str(write_csv(tmp_path / "his.csv", [])),
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NODE_UNREACHABLE" in done.stderr
