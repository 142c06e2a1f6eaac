"""Operability: JSON-line logs with masked ID numbers, health, and per-service Prometheus metrics.

Driven through the embedded network's app (tests/network_fixtures.py): the 41-node demo mounts
every node in one process, so each node's ``/metrics`` must show that node's numbers only.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from protocol_checks import assert_problem
from sqlalchemy.exc import OperationalError

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
    resident_auth,
)
from tongban.adapters.transport import FaultyTransport
from tongban.domain.identifiers import mask_id_number
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.observability import configure_logging, observe_recovery

VISITS = f"/nodes/{SHANGHAI}/v1/visits"
SETTLEMENTS = f"/nodes/{SHANGHAI}/v1/settlements"
ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")
# EMPLOYEE_ID with a wrong check character: refused before anything else looks at it.
BAD_CHECKSUM_ID = EMPLOYEE_ID[:17] + ("1" if EMPLOYEE_ID[17] != "1" else "2")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[SmallNetwork]:
    network = build_small_network(tmp_path)
    yield network
    network.close()


@pytest.fixture
def app(net: SmallNetwork) -> FastAPI:
    return create_network_app(net.network)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged during the test, as configure_logging writes it (JSON lines)."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = configure_logging("INFO", json_lines=True, stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def register(client: TestClient, id_number: str) -> Any:
    return client.post(VISITS, headers=auth(), json={"institution_code": RUIJIN,
                                                     "id_number": id_number})


def visit_of(client: TestClient, id_number: str) -> str:
    response = register(client, id_number)
    assert response.status_code == 201, response.text
    return str(response.json()["visit_id"])


def settle(client: TestClient, sid: str, visit_id: str) -> Any:
    return client.post(SETTLEMENTS, headers=auth(), json={
        "settlement_id": sid, "visit_id": visit_id, "lines": golden_lines()})


def scrape(client: TestClient, path: str) -> Samples:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def lose_next_commit_answer(net: SmallNetwork) -> FaultyTransport:
    """Shanghai's next commit reaches Jinhua, which commits; its answer is lost."""
    runtime = net.network.nodes[SHANGHAI]
    faulty = FaultyTransport(runtime.exchange.transport)
    left = [1]

    def commit_answer(endpoint: str, payload: bytes) -> bool:
        if left[0] and json.loads(payload)["kind"] == "commit":
            left[0] -= 1
            return True
        return False

    faulty.drop_answer = commit_answer
    runtime.exchange.transport = faulty
    return faulty


def test_each_node_exposes_its_own_settlements_refusals_latency_and_recovery(
    net: SmallNetwork, app: FastAPI, client: TestClient
) -> None:
    ok = settle(client, "s-ok", visit_of(client, EMPLOYEE_ID))
    assert ok.status_code == 200 and ok.json()["status"] == "SETTLED", ok.text
    # The resident has no filing for Shanghai: Jinhua refuses the commit.
    assert_problem(settle(client, "s-refused", visit_of(client, RESIDENT_ID)), 422,
                   "FILING_REQUIRED")
    lose_next_commit_answer(net)
    lost = settle(client, "s-unknown", visit_of(client, EMPLOYEE_ID))
    assert lost.status_code == 202 and lost.json()["status"] == "UNKNOWN", lost.text
    assert value(scrape(client, f"/nodes/{SHANGHAI}/metrics"),
                 "tongban_settlements_unresolved", region=SHANGHAI) == 1

    report = net.node(SHANGHAI).visit.recover(everything=True)
    assert report.settled == ["s-unknown"]
    observe_recovery(app.state.node_metrics[SHANGHAI], report)

    shanghai = scrape(client, f"/nodes/{SHANGHAI}/metrics")
    assert {v for _, labels in shanghai for k, v in labels if k == "region"} == {SHANGHAI}
    settled = "tongban_settlements_total"
    for status, count in (("SETTLED", 1), ("REFUSED", 1), ("UNKNOWN", 1), ("VOIDED", 0)):
        assert value(shanghai, settled, region=SHANGHAI, operation="settle", status=status) == count
    assert value(shanghai, "tongban_refusals_total", region=SHANGHAI, code="FILING_REQUIRED") == 1
    route = {"region": SHANGHAI, "method": "POST", "route": "/v1/settlements"}
    latency = "tongban_http_request_duration_seconds"
    assert value(shanghai, f"{latency}_count", **route) == 3
    assert value(shanghai, f"{latency}_bucket", **route, le="+Inf") == 3
    assert value(shanghai, f"{latency}_bucket", **route, le="5.0") == 3  # all under 5 s
    assert value(shanghai, f"{latency}_sum", **route) > 0
    assert value(shanghai, f"{latency}_count", region=SHANGHAI, method="POST",
                 route="/v1/visits") == 3
    routes = {dict(labels).get("route") for name, labels in shanghai if name.startswith(latency)}
    assert not any(r and ("s-" in r or ID_LIKE.search(r)) for r in routes)  # templates only
    recovered = "tongban_recovered_settlements_total"
    assert value(shanghai, recovered, region=SHANGHAI, result="settled") == 1
    assert value(shanghai, recovered, region=SHANGHAI, result="still_unknown") == 0
    assert value(shanghai, "tongban_settlements_unresolved", region=SHANGHAI) == 0
    assert not [k for k in shanghai if k[0] == "tongban_exchange_messages_total"]

    # Jinhua, the home region, handled the commits, the refusal and the resolve: its own numbers.
    jinhua = scrape(client, f"/nodes/{JINHUA}/metrics")
    messages = "tongban_exchange_messages_total"
    assert value(jinhua, messages, region=JINHUA, kind="commit", outcome="ok") == 2
    assert value(jinhua, messages, region=JINHUA, kind="commit", outcome="FILING_REQUIRED") == 1
    assert value(jinhua, messages, region=JINHUA, kind="resolve", outcome="ok") == 1
    assert value(jinhua, messages, region=JINHUA, kind="person", outcome="ok") == 3
    assert value(jinhua, settled, region=JINHUA, operation="settle", status="SETTLED") == 0
    assert value(jinhua, "tongban_refusals_total", region=JINHUA, code="FILING_REQUIRED") == 0
    assert value(jinhua, f"{latency}_count", **{**route, "region": JINHUA}) == 0
    assert value(jinhua, recovered, region=JINHUA, result="settled") == 0

    assert {v for _, labels in jinhua for k, v in labels if k == "region"} == {JINHUA}
    hub = scrape(client, "/hub/metrics")
    assert value(hub, messages, region="hub", kind="locator.lookup", outcome="ok") == 2


def test_the_exchange_counts_forged_kinds_as_other(client: TestClient) -> None:
    forged = json.dumps({"kind": "x" * 40, "body": {}}).encode()
    answer = client.post(f"/nodes/{JINHUA}/v1/exchange", content=forged)
    assert answer.status_code == 200
    assert json.loads(answer.content)["body"]["error"]["code"] == "BAD_ENVELOPE"
    jinhua = scrape(client, f"/nodes/{JINHUA}/metrics")
    messages = "tongban_exchange_messages_total"
    assert value(jinhua, messages, region=JINHUA, kind="other", outcome="BAD_ENVELOPE") == 1


def test_log_lines_are_json_and_never_show_a_whole_id_number(
    net: SmallNetwork, client: TestClient, log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert register(client, EMPLOYEE_ID).status_code == 201
    bad = register(client, BAD_CHECKSUM_ID)
    assert_problem(bad, 422, "INVALID_ID_NUMBER")
    assert mask_id_number(BAD_CHECKSUM_ID) in bad.json()["detail"]
    resident = resident_auth(net, client.post, EMPLOYEE_ID)  # the ID number in a body
    assert client.get(f"/nodes/{JINHUA}/v1/filings", headers=resident).status_code == 200

    # A bug whose message quotes the ID number: the traceback is logged, masked.
    def broken(id_number: str) -> str:
        raise RuntimeError(f"no pseudonym for {id_number}")

    monkeypatch.setattr(net.node(SHANGHAI).visit, "pseudonym_of", broken)
    assert_problem(register(client, EMPLOYEE_ID), 500, "INTERNAL")
    logging.getLogger("tongban.test").warning(
        "checking %s", RESIDENT_ID, extra={"person": RESIDENT_ID, "ids": [EMPLOYEE_ID]}
    )

    output = log_output.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert ID_LIKE.search(output) is None
    for raw in (EMPLOYEE_ID, BAD_CHECKSUM_ID, RESIDENT_ID):
        assert raw not in output
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys()
        assert datetime.fromisoformat(line["ts"]).utcoffset() == timedelta(0)

    bug = next(line for line in lines if line["logger"] == "tongban.api")
    assert bug["level"] == "ERROR" and mask_id_number(EMPLOYEE_ID) in bug["exc"]
    direct = next(line for line in lines if line["logger"] == "tongban.test")
    assert direct["msg"] == f"checking {mask_id_number(RESIDENT_ID)}"
    assert direct["person"] == mask_id_number(RESIDENT_ID)
    assert direct["ids"] == [mask_id_number(EMPLOYEE_ID)]

    requests = [line for line in lines if line["logger"] == "tongban.http"]
    registers = [r for r in requests if r["route"] == "/v1/visits"]
    assert [(r["status"], r.get("code")) for r in registers] == [
        (201, None), (422, "INVALID_ID_NUMBER"), (500, "INTERNAL")]
    assert all(r["method"] == "POST" and r["region"] == SHANGHAI for r in registers)
    assert all(r["institution"] == RUIJIN and r["duration_ms"] >= 0 for r in registers)
    filings = next(r for r in requests if r["route"] == "/v1/filings")
    assert filings["region"] == JINHUA and filings["status"] == 200
    assert "institution" not in filings  # residents' endpoints need no hospital key
    sign_in = next(r for r in requests if r["route"] == "/v1/residents/sign-in")
    assert sign_in["region"] == JINHUA and sign_in["status"] == 202


def test_text_log_lines_mask_id_numbers_too() -> None:
    root = logging.getLogger()
    level, buffer = root.level, io.StringIO()
    handler = configure_logging("INFO", json_lines=False, stream=buffer)
    try:
        logging.getLogger("tongban.test").info("person %s", EMPLOYEE_ID, extra={"id": RESIDENT_ID})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = buffer.getvalue()
    assert ID_LIKE.search(line) is None
    assert f"person {mask_id_number(EMPLOYEE_ID)} id={mask_id_number(RESIDENT_ID)}" in line


def test_health_reports_region_database_and_directory_version(
    net: SmallNetwork, client: TestClient
) -> None:
    directory = net.network.nodes[SHANGHAI].directory.current
    version = directory.version
    assert version >= 1
    node = client.get(f"/nodes/{SHANGHAI}/v1/health")
    assert node.status_code == 200
    assert node.json() == {"status": "ok", "region": SHANGHAI, "database": "ok",
                           "directory": "current", "directory_version": version,
                           "directory_expires_at": directory.expires_at.isoformat()}
    hub = client.get("/hub/v1/health")
    assert hub.status_code == 200
    assert hub.json() == {"status": "ok", "role": "hub", "database": "ok",
                          "directory_version": version}


def test_health_answers_503_when_the_database_is_unreachable(
    net: SmallNetwork, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(net.network.nodes[SHANGHAI].store, "read", unreachable)
    assert_problem(client.get(f"/nodes/{SHANGHAI}/v1/health"), 503, "STORAGE_UNAVAILABLE")
    assert client.get(f"/nodes/{JINHUA}/v1/health").status_code == 200  # only Shanghai is down
    # A scrape still answers; the unresolved count is unknown (NaN), not an error.
    shanghai = scrape(client, f"/nodes/{SHANGHAI}/metrics")
    assert math.isnan(value(shanghai, "tongban_settlements_unresolved", region=SHANGHAI))
    assert value(shanghai, "tongban_refusals_total", region=SHANGHAI,
                 code="STORAGE_UNAVAILABLE") == 1
