"""After a full `tongban demo`, no insured person's ID number is anywhere it must not be.

DESIGN.md §5: personal data stays at the home node; the hub's person locator holds keyed
pseudonyms; logs and errors show an ID number only masked (first 6 and last 4 characters).
The demo runs once, as a user runs it; then every ID number of every insured person (read
from the nodes' ``persons`` tables) is looked for — its 18 characters, with the check
character X in either case — in the demo's output, the hub's files and tables, the clearing
statements, other regions' node databases, the nodes' metrics, and the problem answers and
log lines of requests that quote real ID numbers. A failure names where, with the ID masked.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tongban.bootstrap import DataLayout, EmbeddedNetwork
from tongban.domain.calendar import SHANGHAI
from tongban.domain.identifiers import make_id_number, mask_id_number
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.observability import configure_logging
from tongban.entrypoints.statement_render import to_csv, to_html

TONGBAN = str(Path(sys.executable).with_name("tongban"))
DAY = "2026-11-20"
SHANGHAI_CODE, JINHUA, NANJING, HANGZHOU = "310000", "330700", "320100", "330100"
# Every 18-character window that could be an ID number, overlapping (lookahead).
WINDOW = re.compile(r"(?=([0-9]{17}[0-9Xx]))")
WINDOW_BYTES = re.compile(rb"(?=([0-9]{17}[0-9Xx]))")
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Demo:
    data_dir: Path
    output: str  # stdout and stderr of the run
    home_of: dict[str, str]  # every insured person's ID number -> home region


def read_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data_dir = tmp_path_factory.mktemp("privacy-demo")
    done = subprocess.run(
        [TONGBAN, "demo", "--no-serve", "--data-dir", str(data_dir), "--seed", "11",
         "--date", DAY, "--scale", "0.04"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    home_of = {
        number.upper(): node.name
        for node in sorted((data_dir / "nodes").iterdir())
        for (number,) in read_rows(node / "node.db", "SELECT id_number FROM persons")
    }
    assert len(home_of) > 10_000  # every region's insured, not an empty scan
    return Demo(data_dir, done.stdout + done.stderr, home_of)


def leaks(where: str, haystack: str | bytes, ids: set[str] | dict[str, str]) -> list[str]:
    """Each ID number of ``ids`` found in ``haystack``, as "where: masked number"."""
    windows = (
        [m.decode() for m in WINDOW_BYTES.findall(haystack)]
        if isinstance(haystack, bytes)
        else WINDOW.findall(haystack)
    )
    return [f"{where}: {mask_id_number(w.upper())}" for w in windows if w.upper() in ids]


def assert_no_leaks(found: list[str]) -> None:
    assert not found, f"{len(found)} ID numbers found:\n" + "\n".join(sorted(set(found))[:50])


def test_the_demo_printed_its_run_and_no_id_number(demo: Demo) -> None:
    assert "Cross-region direct settlement on 2026-11-20" in demo.output
    assert "period CLOSED" in demo.output
    assert_no_leaks(leaks("demo output", demo.output, demo.home_of))


def test_the_hubs_files_hold_no_id_number_nor_the_locator_key(demo: Demo) -> None:
    hub = demo.data_dir / "hub"
    files = sorted(p for p in hub.iterdir() if p.name.startswith("hub.db"))  # -wal, -shm too
    assert hub / "hub.db" in files
    key = DataLayout(demo.data_dir).locator_key()
    found: list[str] = []
    for path in [*files, *demo.data_dir.glob("*.json")]:
        data = path.read_bytes()
        found += leaks(path.name, data, demo.home_of)
        if path.parent == hub and (key in data or key.hex().encode() in data):
            found.append(f"{path.name}: the locator key")
    assert_no_leaks(found)


def test_no_text_column_of_any_hub_table_holds_an_id_number(demo: Demo) -> None:
    db = demo.data_dir / "hub" / "hub.db"
    listed = read_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = [name for (name,) in listed]
    assert {"person_locator", "statements", "report_events", "clearing_exceptions"} <= set(tables)
    found: list[str] = []
    for table in tables:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, (str, bytes)):
                        found += leaks(f"hub table {table}.{column}", value, demo.home_of)
    assert_no_leaks(found)


def test_the_statements_as_signed_and_as_rendered_hold_no_id_number(demo: Demo) -> None:
    hub_db = demo.data_dir / "hub" / "hub.db"
    rows = read_rows(hub_db, "SELECT region, body, digest, signature, status FROM statements")
    assert len(rows) == 41
    found: list[str] = []
    for region, body, digest, signature, status in rows:
        parsed = json.loads(body)
        found += leaks(f"statement {region} (CSV)", to_csv(parsed), demo.home_of)
        html = to_html(parsed, digest, signature, status)
        found += leaks(f"statement {region} (HTML)", html, demo.home_of)
    for node in sorted((demo.data_dir / "nodes").iterdir()):  # each node's copy and answer
        for period, body, reason in read_rows(node / "node.db",
                                              "SELECT period, body, reason FROM statements"):
            found += leaks(f"node {node.name} statement {period}", f"{body} {reason}",
                           demo.home_of)
    assert_no_leaks(found)


def test_a_node_holds_no_id_number_of_anyone_insured_elsewhere(demo: Demo) -> None:
    found: list[str] = []
    for node in sorted((demo.data_dir / "nodes").iterdir()):
        others = {n for n, home in demo.home_of.items() if home != node.name}
        for path in sorted(node.glob("node.db*")):
            found += leaks(f"nodes/{node.name}/{path.name}", path.read_bytes(), others)
    assert_no_leaks(found)


def test_the_hubs_locator_holds_keyed_pseudonyms_no_one_can_recompute_without_the_key(
    demo: Demo,
) -> None:
    stored = {p for (p,) in read_rows(demo.data_dir / "hub" / "hub.db",
                                      "SELECT pseudonym FROM person_locator")}
    assert stored and all(HEX64.fullmatch(p) for p in stored)
    key = DataLayout(demo.data_dir).locator_key()
    # Exactly the insured, each under the HMAC of the members' key (so the check below bites).
    assert stored == {hmac.new(key, n.encode(), hashlib.sha256).hexdigest() for n in demo.home_of}
    guessed: list[str] = []
    for number in demo.home_of:
        for text in {number, number.lower()}:
            raw = text.encode()
            guesses = {
                hashlib.sha256(raw).hexdigest(),
                hashlib.sha3_256(raw).hexdigest(),
                hashlib.blake2s(raw).hexdigest(),
                hmac.new(b"", raw, hashlib.sha256).hexdigest(),
                hmac.new(raw, b"", hashlib.sha256).hexdigest(),
            }
            if guesses & stored:
                guessed.append(mask_id_number(number))
    assert not guessed, f"pseudonyms recomputed without the key for {guessed[:10]}"


# --------------------------------------------------------------------------- the demo's nodes' API
def on_the_demos_day() -> datetime:
    """Now, moved to the demo's day: its directory and its visits' dates stay valid."""
    now = datetime.now(SHANGHAI)
    return datetime.combine(date.fromisoformat(DAY), now.timetz()).astimezone(UTC)


@dataclass
class Api:
    network: EmbeddedNetwork
    client: TestClient
    log: io.StringIO
    keys: dict[str, str]
    jinhua_id: str  # insured in Jinhua, so a patient in Shanghai
    nanjing_id: str
    shanghai_id: str


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[Api]:
    network = EmbeddedNetwork(demo.data_dir, clock=on_the_demos_day)
    network.open([SHANGHAI_CODE, JINHUA, NANJING, HANGZHOU])
    root = logging.getLogger()
    level, log = root.level, io.StringIO()
    handler = configure_logging("DEBUG", json_lines=True, stream=log)
    keys = json.loads((demo.data_dir / "demo-credentials.json").read_text())
    people = {home: sorted(n for n, h in demo.home_of.items() if h == home)
              for home in (JINHUA, NANJING, SHANGHAI_CODE)}
    try:
        with TestClient(create_network_app(network), raise_server_exceptions=False) as client:
            yield Api(network, client, log, keys, people[JINHUA][0], people[NANJING][0],
                      people[SHANGHAI_CODE][0])
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        network.close()


A, B = "H31000000001", "H31000000002"  # two Shanghai hospitals open to cross-region patients
VISITS, SETTLEMENTS = f"/nodes/{SHANGHAI_CODE}/v1/visits", f"/nodes/{SHANGHAI_CODE}/v1/settlements"
RESIDENTS, FILINGS = f"/nodes/{JINHUA}/v1/residents", f"/nodes/{JINHUA}/v1/filings"


def post(api: Api, path: str, body: dict[str, Any], bearer: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return api.client.post(path, json=body, headers=headers)


def visit(id_number: str, institution: str = A, **extra: Any) -> dict[str, Any]:
    return {"institution_code": institution, "id_number": id_number, **extra}


def signed_in(api: Api, id_number: str) -> str:
    """A session token of the resident at her home node, Jinhua (the code as her SMS shows)."""
    challenge = post(api, f"{RESIDENTS}/sign-in", {"id_number": id_number})
    assert challenge.status_code == 202, challenge.text
    challenge_id = challenge.json()["challenge_id"]
    code = api.network.nodes[JINHUA].code_sender.last_code(challenge_id)  # type: ignore[attr-defined]
    session = post(api, f"{RESIDENTS}/session", {"challenge_id": challenge_id, "code": code})
    assert session.status_code == 201, session.text
    return str(session.json()["token"])


def test_error_answers_metrics_and_log_lines_show_real_id_numbers_only_masked(
    demo: Demo, api: Api
) -> None:
    jinhua, nanjing = api.jinhua_id, api.nanjing_id
    a, b = api.keys[A], api.keys[B]
    wrong_check = jinhua[:17] + ("0" if jinhua[17] != "0" else "1")
    uninsured = make_id_number("110105", date(1949, 12, 31), 2)
    assert uninsured not in demo.home_of
    registered = post(api, VISITS, visit(jinhua), a)
    assert registered.status_code == 201, registered.text
    assert registered.json()["masked_id"] == mask_id_number(jinhua)
    visit_id = registered.json()["visit_id"]
    settle = {"settlement_id": "privacy-1", "visit_id": visit_id,
              "lines": [{"code": "001102000010000", "quantity": "1", "unit_price": 2500}]}
    token = signed_in(api, jinhua)
    filing = {"kind": "other", "target_region": SHANGHAI_CODE, "commitment": True}
    # (the answer, its status and code, whose masked number its detail names)
    cases: list[tuple[Any, int, str, str | None]] = [
        (post(api, VISITS, visit(wrong_check), a), 422, "INVALID_ID_NUMBER", wrong_check),
        (post(api, VISITS, visit(jinhua.lower()), a), 201, "", None),
        (post(api, VISITS, visit(uninsured), a), 404, "PERSON_NOT_LOCATED", None),
        (post(api, VISITS, visit(api.shanghai_id), a), 422, "NOT_CROSS_REGION", None),
        (post(api, VISITS, visit(jinhua, B), a), 403, "INSTITUTION_MISMATCH", None),
        (post(api, VISITS, visit(jinhua + "0" * 20), a), 422, "INVALID_REQUEST", None),
        (post(api, VISITS, visit(jinhua, med_type=jinhua), a), 422, "INVALID_REQUEST", None),
        (post(api, VISITS, {**visit(nanjing), jinhua: 1}, a), 422, "INVALID_REQUEST", None),
        (post(api, SETTLEMENTS, settle, b), 403, "INSTITUTION_MISMATCH", None),
        (api.client.get(f"{VISITS}/{visit_id}", headers={"Authorization": f"Bearer {b}"}),
         403, "INSTITUTION_MISMATCH", None),
        (api.client.get(f"{SETTLEMENTS}/{jinhua}", headers={"Authorization": f"Bearer {a}"}),
         404, "SETTLEMENT_NOT_FOUND", None),
        (post(api, f"{RESIDENTS}/sign-in", {"id_number": wrong_check}), 422,
         "INVALID_ID_NUMBER", wrong_check),
        (post(api, f"{RESIDENTS}/sign-in", {"id_number": nanjing}), 202, "", None),
        (api.client.get(FILINGS, params={"id_number": jinhua}), 401, "UNAUTHENTICATED", None),
        (api.client.get(FILINGS, params={"id_number": nanjing},
                        headers={"Authorization": f"Bearer {token}"}), 403, "NOT_YOUR_RECORD",
         None),
        (post(api, FILINGS, {**filing, "id_number": nanjing}, token), 403, "NOT_YOUR_RECORD",
         None),
        (post(api, FILINGS, {**filing, "target_region": JINHUA}, token), 422, "INVALID_FILING",
         None),
        (post(api, FILINGS, {**filing, "target_region": "999999"}, token), 422,
         "UNKNOWN_REGION", None),
        (post(api, FILINGS, {**filing, "commitment": False}, token), 422, "COMMITMENT_REQUIRED",
         None),
        (post(api, FILINGS, {**filing, "start_date": "9999-12-01"}, token), 422,
         "INVALID_FILING", None),
        (post(api, f"{FILINGS}/no-such-filing/revoke", {}, token), 404, "FILING_NOT_FOUND", None),
    ]
    unexpected = [(n, a.status_code, a.text[:300]) for n, (a, status, code, _) in
                  enumerate(cases, 1) if a.status_code != status
                  or (status >= 400 and a.json().get("code") != code)]
    assert not unexpected, unexpected
    found: list[str] = []
    for number, (answer, status, code, names) in enumerate(cases, 1):
        found += leaks(f"answer {number} ({status} {code})", answer.text,
                       {*demo.home_of, wrong_check, uninsured})
        if names:
            assert mask_id_number(names) in answer.json()["detail"], (number, answer.text)
    for path in [f"/nodes/{code}/metrics" for code in (SHANGHAI_CODE, JINHUA, NANJING)]:
        metrics = api.client.get(path)
        assert metrics.status_code == 200 and "tongban_refusals_total" in metrics.text
        for line in metrics.text.splitlines():
            found += leaks(f"{path} line {line[:60]!r}", line, demo.home_of)
    found += leaks("hub metrics", api.client.get("/hub/metrics").text, demo.home_of)
    lines = api.log.getvalue().splitlines()
    assert sum('"tongban.http"' in line for line in lines) >= len(cases)
    for number, line in enumerate(lines, 1):
        found += leaks(f"log line {number}", line, {*demo.home_of, wrong_check, uninsured})
    assert_no_leaks(found)
