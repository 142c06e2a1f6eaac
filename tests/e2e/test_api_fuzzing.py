"""The node's and the hub's HTTP APIs fuzzed from their own OpenAPI schema (schemathesis).

Schemathesis generates requests for every operation the schema publishes at run time, valid
and invalid by that schema; for the node with a hospital's API key, with none and with a
wrong one. Real values (the small network's ID numbers, institutions, visit, settlement and
catalogue codes) are mixed in so that requests get past the first lookups. Every answer must:

- never be a 5xx;
- be what the schema documents: status code, content type, body, headers (built-in checks);
- if the request was valid by the schema and refused, be refused for a reason the schema cannot
  express (a domain code such as INVALID_ID_NUMBER), not as schema-invalid (INVALID_REQUEST);
- if it is a refusal (4xx), leave every stored settlement, person, accumulator, filing, visit,
  outbox and ledger row of every node (and every hub table) exactly as it was.

Bounded for CI: TONGBAN_FUZZ_EXAMPLES (default 12) examples per operation and mode; raise it
for a long run. The counts of cases run are printed at the end of the module.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import Engine, MetaData, select
from starlette.routing import Mount

from network_fixtures import (
    COMMUNITY,
    DISABLED,
    EMPLOYEE_ID,
    GOLDEN_CATALOGUE,
    JINHUA,
    NANJING_ID,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    UNINSURED_ID,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
)
from tongban.adapters.exchange import signed_part, unseal
from tongban.adapters.signing import verify
from tongban.adapters.storage import schema as tables
from tongban.entrypoints.api.embedded import create_network_app

EXAMPLES = int(os.environ.get("TONGBAN_FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # CI runs the same cases every time; raise the bound to explore more
    database=None,
    suppress_health_check=list(HealthCheck),
)
# What a refused request must not change, at every node (the hub's tables are all checked).
NODE_TABLES = (
    "persons",
    "accumulators",
    "filings",
    "visits",
    "visit_settlements",
    "home_settlements",
    "outbox",
    "ledger_accounts",
    "ledger_transfers",
    "national_messages",
    "national_fee_details",
)
NATIONAL = "/v1/national"  # answers every refusal inside its envelope, with HTTP 200
# Codes that say "this request does not match the schema": never the answer to one that does.
SCHEMA_REFUSALS = {"INVALID_REQUEST", "MALFORMED_JSON", "DUPLICATE_KEY", "JSON_TOO_DEEP"}


@dataclass
class Fuzzed:
    net: SmallNetwork
    node_app: Any  # Shanghai's: the hospitals' side
    home_app: Any  # Jinhua's: its residents' side
    hub_app: Any
    visit_id: str
    settlement_id: str
    resident_token: str
    filing_id: str
    counts: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)


def _mounted(root: Any, prefix: str) -> Any:
    return next(r.app for r in root.routes if isinstance(r, Mount) and r.path == prefix)


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Fuzzed]:
    net = build_small_network(tmp_path_factory.mktemp("fuzz"))
    root = create_network_app(net.network)
    node_app, hub_app = _mounted(root, f"/nodes/{SHANGHAI}"), _mounted(root, "/hub")
    home_app = _mounted(root, f"/nodes/{JINHUA}")
    with TestClient(node_app) as client:
        visit = client.post("/v1/visits", headers=auth(),
                            json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
        assert visit.status_code == 201, visit.text
        visit_id = visit.json()["visit_id"]
        settled = client.post("/v1/settlements", headers=auth(), json={
            "settlement_id": "fuzz-existing", "visit_id": visit_id, "lines": golden_lines()})
        assert settled.status_code == 200, settled.text
    with TestClient(home_app) as client:
        token, filing_id = _resident_with_a_filing(net, client)
    world = Fuzzed(net, node_app, home_app, hub_app, visit_id, "fuzz-existing", token, filing_id)
    yield world
    _report(pytestconfig, world)
    net.close()


def _resident_with_a_filing(net: SmallNetwork, client: TestClient) -> tuple[str, str]:
    """Jinhua's resident signs in with the code sent to her, and files once."""
    started = client.post("/v1/residents/sign-in", json={"id_number": RESIDENT_ID})
    assert started.status_code == 202, started.text
    challenge = started.json()["challenge_id"]
    session = client.post("/v1/residents/session", json={
        "challenge_id": challenge, "code": net.sent_code(JINHUA, challenge)})
    assert session.status_code == 201, session.text
    token = str(session.json()["token"])
    filed = client.post("/v1/filings", headers={"Authorization": f"Bearer {token}"}, json={
        "kind": "other", "target_region": SHANGHAI, "commitment": True})
    assert filed.status_code == 201, filed.text
    return token, str(filed.json()["filing_id"])


def _report(config: pytest.Config, world: Fuzzed) -> None:
    total = sum(n for key, n in world.counts.items() if key.endswith(":all"))
    parts = ", ".join(f"{key} {n}" for key, n in sorted(world.counts.items()))
    codes = ", ".join(f"{code} {n}" for code, n in world.codes.most_common(12))
    lines = [
        f"fuzz cases run: {total} ({EXAMPLES} examples per operation and mode): {parts}",
        f"fuzz refusal codes: {codes}",
    ]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(*lines, sep="\n")
        return
    with capture.global_and_fixture_disabled():  # shown even when output is captured
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def _config(world: Fuzzed) -> schemathesis.Config:
    """Real values, drawn half the time, so requests get past lookups into the rules."""
    values = {
        "id_numbers": [EMPLOYEE_ID, RESIDENT_ID, NANJING_ID, UNINSURED_ID],
        "institutions": [RUIJIN, COMMUNITY, DISABLED],
        "visits": [world.visit_id],
        "settlements": [world.settlement_id],
        "item_codes": list(GOLDEN_CATALOGUE),
        "regions": [SHANGHAI, JINHUA],
        "filings": [world.filing_id],
    }
    bind = {
        "body.id_number": "id_numbers",
        "query.id_number": "id_numbers",
        "body.institution_code": "institutions",
        "body.visit_id": "visits",
        "path.visit_id": "visits",
        "path.settlement_id": "settlements",
        "body.lines[*].code": "item_codes",
        "body.target_region": "regions",
        "path.filing_id": "filings",
    }
    return schemathesis.Config.from_dict({
        "dictionaries": {name: {"values": v} for name, v in values.items()},
        "parameters": {k: {"dictionary": v, "probability": 0.5} for k, v in bind.items()},
    })


@pytest.fixture(scope="module")
def node_schema(fuzzed: Fuzzed) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed.node_app, config=_config(fuzzed))


@pytest.fixture(scope="module")
def home_schema(fuzzed: Fuzzed) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed.home_app, config=_config(fuzzed))


@pytest.fixture(scope="module")
def hub_schema(fuzzed: Fuzzed) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed.hub_app, config=_config(fuzzed))


# --- what a refusal must not change --------------------------------------------------------
def _digest(engine: Engine, metadata: MetaData, names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    with engine.connect() as conn:
        for name in names:
            rows = sorted(repr(tuple(row)) for row in conn.execute(select(metadata.tables[name])))
            out[name] = f"{len(rows)}:{hashlib.sha256(''.join(rows).encode()).hexdigest()}"
    return out


def stored_state(world: Fuzzed) -> dict[str, dict[str, str]]:
    state = {
        region: _digest(runtime.store.db.engine, tables.node_metadata, NODE_TABLES)
        for region, runtime in world.net.network.nodes.items()
    }
    hub_store = world.net.network.hub.hub.store
    state["hub"] = _digest(
        hub_store.db.engine, tables.hub_metadata, tuple(tables.hub_metadata.tables)
    )
    return state


# --- one fuzzed request --------------------------------------------------------------------
def fuzz(case: Any, world: Fuzzed, api: str, authorization: str | None) -> None:
    for name in [h for h in case.headers or {} if h.lower() == "authorization"]:
        del case.headers[name]
    headers = {"Authorization": authorization} if authorization else {}
    before = stored_state(world)
    response = case.call(headers=headers)
    status = response.status_code
    world.counts[f"{api}:all"] += 1
    world.counts[f"{api}:{status // 100}xx"] += 1
    refused = 400 <= status < 500
    code = _problem_code(response) if refused else None
    national = case.path.endswith(NATIONAL)
    if national and status == 200:  # the national platform's way: infcode -1 and err_msg
        refused = response.json()["infcode"] != 0
        code = str(response.json()["err_msg"]).split(":")[0] if refused else None
    if code:
        world.codes[code] += 1
    assert status < 500, f"{case.method} {case.formatted_path}: {status} {response.text[:300]}"
    if refused:
        assert stored_state(world) == before, (
            f"{case.method} {case.formatted_path} was refused ({status} {code}) "
            "but changed what is stored"
        )
    excluded = [_positive_acceptance()] + ([_negative_rejection()] if national else [])
    case.validate_response(response, excluded_checks=excluded, headers=headers)
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive:
        assert status not in (413, 415) and code not in SCHEMA_REFUSALS, (
            f"{case.method} {case.formatted_path}: a request valid by the published schema was "
            f"refused as not matching it ({status} {code}): {response.text[:300]}"
        )


def _problem_code(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("code")) if isinstance(body, dict) else None


def _positive_acceptance() -> Callable[..., Any]:
    """Schemathesis' own check expects 2xx, 401, 403, 404 or 409 for valid data; here a
    domain rule may refuse valid-looking data with 422 and a code: ``fuzz`` checks the code."""
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    return positive_data_acceptance  # type: ignore[no-any-return]


def _negative_rejection() -> Callable[..., Any]:
    """Schemathesis expects a 4xx for data its schema forbids; the national interface refuses it
    inside its envelope (HTTP 200, infcode -1), which ``fuzz`` checks instead."""
    from schemathesis.specs.openapi.checks import negative_data_rejection

    return negative_data_rejection  # type: ignore[no-any-return]


# --- the tests -----------------------------------------------------------------------------
BOTH = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def run_fuzzer(
    schema: Any,
    world: Fuzzed,
    api: str,
    authorization: str | None,
    modes: tuple[GenerationMode, ...] = BOTH,
    examples: int = EXAMPLES,
    tagged: str = "",
) -> None:
    """Every operation the schema publishes (with a tag containing ``tagged``), with data
    valid and invalid by it."""
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if any(tagged in tag for tag in op.tags or [""])]
    assert operations, f"the schema publishes no operation tagged {tagged!r}"
    # Ending the session (sign-out) last, so that the other operations run signed in.
    operations.sort(key=lambda op: op.path.endswith("sign-out"))
    for operation in operations:
        # Only a body or a query can be sent invalid: path and header values are strings
        # whatever they hold (schemathesis would search, and give up, for nothing).
        can_be_invalid = len(operation.body) > 0 or len(operation.query) > 0
        for mode in [m for m in modes if can_be_invalid or m is GenerationMode.POSITIVE]:

            @settings(FUZZ_SETTINGS, max_examples=examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def one_case(case: Any) -> None:
                fuzz(case, world, api, authorization)

            try:
                one_case()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing here can be made invalid
            except Exception as exc:
                exc.add_note(f"while fuzzing {operation.label} with {mode.value} data")
                raise


def test_the_node_api_answers_a_hospital_as_documented_and_its_refusals_change_nothing(
    node_schema: Any, fuzzed: Fuzzed
) -> None:
    run_fuzzer(node_schema, fuzzed, "node", auth()["Authorization"])


@pytest.mark.parametrize("key", [None, "Bearer not-a-hospital-key"], ids=["no key", "wrong key"])
def test_the_node_api_answers_without_a_valid_key_as_documented_and_changes_nothing(
    node_schema: Any, fuzzed: Fuzzed, key: str | None
) -> None:
    """Valid data only: invalid data is refused before the key matters (the run above)."""
    name = "node, no key" if key is None else "node, wrong key"
    run_fuzzer(node_schema, fuzzed, name, key, (GenerationMode.POSITIVE,), max(1, EXAMPLES // 2))


def test_the_home_node_answers_a_signed_in_resident_as_documented_and_refusals_change_nothing(
    home_schema: Any, fuzzed: Fuzzed
) -> None:
    """The residents' operations, at the resident's home node, with her session token."""
    token = f"Bearer {fuzzed.resident_token}"
    run_fuzzer(home_schema, fuzzed, "home, resident", token, tagged="resident")


def test_the_hub_api_answers_as_documented_and_its_refusals_change_nothing(
    hub_schema: Any, fuzzed: Fuzzed
) -> None:
    run_fuzzer(hub_schema, fuzzed, "hub", None)


# --- the signed exchange: its body is not in the schema (bytes, signed), so fuzzed here -----
ENVELOPE_KEYS = ("sender", "recipient", "msgid", "timestamp", "kind", "body", "in_reply_to",
                 "signature")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)
payloads = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional=dict.fromkeys(ENVELOPE_KEYS, json_values)).map(
        lambda v: json.dumps(v).encode()
    ),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=50_000).map(lambda n: b'{"body": ' * n),
)


@pytest.mark.parametrize("target", ["node", "hub"])
def test_the_exchange_answers_any_bytes_with_a_signed_refusal_and_changes_nothing(
    fuzzed: Fuzzed, target: str
) -> None:
    app = fuzzed.node_app if target == "node" else fuzzed.hub_app
    runtime = fuzzed.net.network.nodes[SHANGHAI] if target == "node" else fuzzed.net.network.hub
    client = TestClient(app, raise_server_exceptions=False)

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES * 4)
    @given(payload=payloads)
    def one_payload(payload: bytes) -> None:
        before = stored_state(fuzzed)
        response = client.post("/v1/exchange", content=payload)
        fuzzed.counts[f"exchange ({target}):all"] += 1
        assert response.status_code == 200, response.text[:300]
        reply, signature = unseal(response.content)
        assert verify(runtime.public_key, signed_part(reply), signature)
        assert reply.body["ok"] is False
        assert reply.body["error"]["kind"] == "message_rejected", reply.body
        fuzzed.codes[reply.body["error"]["code"]] += 1
        assert stored_state(fuzzed) == before

    one_payload()
