"""Hostile input gets a clear problem with a stable code, never a 500, and changes nothing.

Oversized bodies (with and without a content-length), deeply nested JSON, wrong content types,
bytes that are not UTF-8, lone surrogates, NUL and other invisible characters, look-alike digits,
huge numbers, NaN and duplicate keys, sent to the embedded network's API (so through the
mounting app, as the demo serves it) on SQLite and PostgreSQL; the signed exchange answers the
same garbage with a signed refusal. The codes are those of entrypoints/api/limits.py.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_schemas import pg_schema_urls
from protocol_checks import assert_problem, assert_sides_agree, snapshot, visit_statuses

from network_fixtures import (
    EMPLOYEE_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
)
from tongban.adapters.exchange import signed_part, unseal
from tongban.adapters.signing import verify
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.api.limits import Refusal, json_depth, parse_json

NODE = f"/nodes/{SHANGHAI}/v1"
JSON = {"content-type": "application/json"}
CONSULT = {"code": "001102000010000", "quantity": "1", "unit_price": 2500}
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass
class World:
    net: SmallNetwork
    client: TestClient
    visit_id: str

    def state(self) -> Any:
        return snapshot(self.net), visit_statuses(self.net, SHANGHAI)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    url_for = None
    if request.param == "postgresql":
        url_for = pg_schema_urls(request.getfixturevalue("pg_server_url"))
    net = build_small_network(tmp_path_factory.mktemp("hostile"), db_url_for=url_for)
    client = TestClient(create_network_app(net.network), raise_server_exceptions=False)
    visit = client.post(f"{NODE}/visits", headers=auth(),
                        json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
    assert visit.status_code == 201, visit.text
    settled = client.post(f"{NODE}/settlements", headers=auth(), json={
        "settlement_id": "h-existing", "visit_id": visit.json()["visit_id"],
        "lines": golden_lines()})
    assert settled.status_code == 200, settled.text
    yield World(net, client, visit.json()["visit_id"])
    client.close()
    net.close()


def settle(world: World, **changes: Any) -> dict[str, Any]:
    return {"settlement_id": "h-new", "visit_id": world.visit_id, "lines": [CONSULT], **changes}


def settle_text(world: World, line: str = "", top: str = "") -> bytes:
    """A settle body written by hand, for what json.dumps cannot write (NaN, keys twice)."""
    return (f'{{"settlement_id": "h-new", "visit_id": "{world.visit_id}"{top}, "lines": '
            f'[{{"code": "001102000010000", "quantity": "1", "unit_price": 2500{line}}}]}}'
            ).encode()


def register(**changes: Any) -> dict[str, Any]:
    return {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID, **changes}


def totals(**changes: Any) -> dict[str, Any]:
    row = {"insutype": "310", "settle_count": 0, "cancel_count": 0, "medfee_sumamt": 0,
           "fund_pay": 0, "acct_pay": 0, **changes}
    return {"from_date": "2026-01-05", "to_date": "2026-01-05", "totals": [row]}


def deep_lines(depth: int) -> Callable[[World], bytes]:
    return lambda w: settle_text(w).replace(b'"lines": ', b'"lines": ' + b"[" * depth, 1)


# (what, path under NODE, body: JSON / bytes / a function of the world, extra headers,
#  status, code); every one is sent as POST with a hospital's key.
Case = tuple[str, str, Any, dict[str, str], int, str]
CASES: list[Case] = [
    # --- size --------------------------------------------------------------------------
    ("a body over 1 MB", "/settlements", b" " * 1_000_001 + b"{}", JSON, 413, "BODY_TOO_LARGE"),
    ("a body over 1 MB, chunked without a length", "/settlements",
     lambda w: iter([b"[" + b" " * 600_000] * 2 + [b"]"]), JSON, 413, "BODY_TOO_LARGE"),
    ("a detail reconciliation over 32 MB", "/reconciliation/detail",
     b" " * 32_000_001, JSON, 413, "BODY_TOO_LARGE"),
    # --- depth -------------------------------------------------------------------------
    ("100,000 opening brackets", "/settlements", b"[" * 100_000, JSON, 422, "JSON_TOO_DEEP"),
    ("100,000 nested objects", "/settlements", b'{"a": ' * 100_000, JSON, 422,
     "JSON_TOO_DEEP"),
    ("lines nested 40 deep", "/settlements", deep_lines(40), JSON, 422, "JSON_TOO_DEEP"),
    ("brackets inside a string do not nest", "/settlements",
     lambda w: settle(w, visit_id="[" * 40), {}, 404, "VISIT_NOT_FOUND"),
    # --- content type ------------------------------------------------------------------
    ("JSON sent as text/plain", "/visits", json.dumps(register()).encode(),
     {"content-type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("a form instead of JSON", "/visits", b"institution_code=H31000000001",
     {"content-type": "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("a body without a content-type", "/visits", json.dumps(register()).encode(), {}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ("JSON declared in latin-1", "/visits", json.dumps(register()).encode(),
     {"content-type": "application/json; charset=latin-1"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    # --- encoding ----------------------------------------------------------------------
    ("bytes that are not UTF-8", "/visits", b'{"institution_code": "\xff\xfe"}', JSON, 422,
     "MALFORMED_JSON"),
    ("JSON in UTF-16", "/visits", json.dumps(register()).encode("utf-16"), JSON, 422,
     "MALFORMED_JSON"),
    ("a byte order mark before the JSON", "/visits",
     b"\xef\xbb\xbf" + json.dumps(register()).encode(), JSON, 422, "MALFORMED_JSON"),
    ("a surrogate encoded in UTF-8 bytes", "/visits", b'{"id_number": "\xed\xa0\x80"}', JSON,
     422, "MALFORMED_JSON"),
    # --- invisible characters ----------------------------------------------------------
    ("a lone surrogate in an ID number", "/visits",
     b'{"institution_code": "H31000000001", "id_number": "\\ud800"}', JSON, 422,
     "INVALID_TEXT"),
    ("a NUL byte in an ID number", "/visits", register(id_number=EMPLOYEE_ID + "\x00"), {},
     422, "INVALID_TEXT"),
    ("a NUL byte in a visit id", "/settlements", lambda w: settle(w, visit_id="v\x00"), {}, 422,
     "INVALID_TEXT"),
    ("a zero-width joiner in an ID number", "/visits",
     register(id_number=EMPLOYEE_ID[:6] + "\u200d" + EMPLOYEE_ID[6:]), {}, 422,
     "INVALID_TEXT"),
    ("a right-to-left override in an institution code", "/visits",
     register(institution_code="\u202e" + RUIJIN), {}, 422, "INVALID_TEXT"),
    ("a zero-width space in a settlement id", "/settlements",
     lambda w: settle(w, settlement_id="h-\u200bnew"), {}, 422, "INVALID_TEXT"),
    ("a byte order mark inside a visit id", "/settlements",
     lambda w: settle(w, visit_id="\ufeff" + w.visit_id), {}, 422, "INVALID_TEXT"),
    ("a zero-width joiner in a key", "/settlements",
     lambda w: {**settle(w), "use_account\u200d": True}, {}, 422, "INVALID_TEXT"),
    ("an escape character in a catalogue code", "/settlements",
     lambda w: settle(w, lines=[{**CONSULT, "code": "\x1b[2J001102000010000"}]), {}, 422,
     "INVALID_TEXT"),
    # --- look-alike digits -------------------------------------------------------------
    ("an ID number in full-width digits", "/visits",
     register(id_number=EMPLOYEE_ID.translate(FULL_WIDTH)), {}, 422, "INVALID_ID_NUMBER"),
    ("an ID number in Arabic-Indic digits", "/visits",
     register(id_number=EMPLOYEE_ID.translate(ARABIC_INDIC)), {}, 422, "INVALID_ID_NUMBER"),
    ("an institution code with full-width digits", "/visits",
     register(institution_code=RUIJIN.translate(FULL_WIDTH)), {}, 422,
     "INVALID_INSTITUTION_CODE"),
    ("a quantity in full-width digits", "/settlements",
     lambda w: settle(w, lines=[{**CONSULT, "quantity": "２"}]), {}, 422, "INVALID_REQUEST"),
    ("a quantity in Arabic-Indic digits", "/settlements",
     lambda w: settle(w, lines=[{**CONSULT, "quantity": "٢"}]), {}, 422, "INVALID_REQUEST"),
    ("a catalogue code in full-width digits", "/settlements",
     lambda w: settle(w, lines=[{**CONSULT, "code": CONSULT["code"].translate(FULL_WIDTH)}]),
     {}, 422, "INVALID_REQUEST"),
    # --- numbers -----------------------------------------------------------------------
    ("a unit price of 10^400 fen", "/settlements",
     lambda w: settle(w, lines=[{**CONSULT, "unit_price": 10**400}]), {}, 422, "INVALID_LINE"),
    ("an amount of 10^400 fen", "/reconciliation", totals(medfee_sumamt=10**400), {}, 422,
     "INVALID_AMOUNT"),
    ("a count of 10^400", "/reconciliation", totals(settle_count=10**400), {}, 422,
     "INVALID_COUNT"),
    ("an integer of 5,000 digits", "/settlements",
     lambda w: settle_text(w).replace(b"2500", b"9" * 5000), JSON, 422, "MALFORMED_JSON"),
    ("a unit price of 1e400 (infinite as a float)", "/settlements",
     lambda w: settle_text(w).replace(b"2500", b"1e400"), JSON, 422, "INVALID_REQUEST"),
    ("NaN", "/settlements", lambda w: settle_text(w).replace(b"2500", b"NaN"), JSON, 422,
     "MALFORMED_JSON"),
    ("Infinity", "/settlements", lambda w: settle_text(w).replace(b"2500", b"Infinity"), JSON,
     422, "MALFORMED_JSON"),
    ("-Infinity as an amount", "/reconciliation",
     json.dumps(totals(fund_pay=0)).replace('"fund_pay": 0', '"fund_pay": -Infinity').encode(),
     JSON, 422, "MALFORMED_JSON"),
    # --- dates ------------------------------------------------------------------------
    ("a reconciliation of the year 1", "/reconciliation",
     {**totals(), "from_date": "0001-01-01", "to_date": "0001-01-01"}, {}, 422,
     "INVALID_DATE_RANGE"),
    ("a reconciliation of the year 9999", "/reconciliation/detail",
     {"from_date": "9999-12-31", "to_date": "9999-12-31", "lines": []}, {}, 422,
     "INVALID_DATE_RANGE"),
    # --- duplicate keys ----------------------------------------------------------------
    ("a settlement id given twice", "/settlements",
     lambda w: settle_text(w, top=', "settlement_id": "h-other"'), JSON, 422, "DUPLICATE_KEY"),
    ("a unit price given twice in one line", "/settlements",
     lambda w: settle_text(w, line=', "unit_price": 1'), JSON, 422, "DUPLICATE_KEY"),
]


def send(world: World, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if callable(body):
        body = body(world)
    url = NODE + path
    if isinstance(body, (bytes, Iterator)):
        return world.client.post(url, content=body, headers={**auth(), **headers})
    return world.client.post(url, json=body, headers={**auth(), **headers})


@pytest.mark.parametrize(("path", "body", "headers", "status", "code"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_hostile_input_gets_a_problem_with_a_stable_code_and_changes_nothing(
    world: World, path: str, body: Any, headers: dict[str, str], status: int, code: str
) -> None:
    before = world.state()
    response = send(world, path, body, headers)
    assert_problem(response, status, code)
    assert world.state() == before
    assert_sides_agree(world.net)


@pytest.mark.parametrize("where", ["path", "query"])
def test_a_nul_or_an_override_in_the_url_is_refused_before_any_lookup(
    world: World, where: str
) -> None:
    """PostgreSQL cannot even compare text with a NUL in it: it must not get that far."""
    before = world.state()
    for char in ("%00", "%E2%80%AE"):  # NUL, RIGHT-TO-LEFT OVERRIDE
        url = (f"{NODE}/settlements/h-existing{char}" if where == "path"
               else f"{NODE}/settlements/h-existing?x=a{char}")
        assert_problem(world.client.get(url, headers=auth()), 422, "INVALID_TEXT")
    assert world.state() == before


def test_the_limits_leave_good_requests_alone(world: World) -> None:
    """Charset declared, +json, brackets and Chinese text in strings, a body just under 1 MB."""
    ok = world.client.post(f"{NODE}/visits/{world.visit_id}/preview", headers={
        **auth(), "content-type": "Application/JSON; charset=UTF-8"},
        content=json.dumps({"lines": [CONSULT]}, ensure_ascii=False).encode())
    assert ok.status_code == 200, ok.text
    padded = json.dumps({"lines": [CONSULT]}).encode() + b" " * 990_000
    ok = world.client.post(f"{NODE}/visits/{world.visit_id}/preview",
                           headers={**auth(), "content-type": "application/merge-patch+json"},
                           content=padded)
    assert ok.status_code == 200, ok.text
    unknown = world.client.post(f"{NODE}/settlements", headers=auth(),
                                json=settle(world, visit_id="[{就诊}]"))
    assert_problem(unknown, 404, "VISIT_NOT_FOUND")


def test_a_detail_reconciliation_over_1_mb_is_read_as_its_own_limit_allows(
    world: World
) -> None:
    lines = [{"settlement_id": f"his-{i:06d}", "event": "settle", "insutype": "310",
              "medfee_sumamt": 2500, "fund_pay": 0, "acct_pay": 0} for i in range(12_000)]
    body = json.dumps({"from_date": "2026-01-05", "to_date": "2026-01-05", "lines": lines})
    assert len(body) > 1_000_000
    before = world.state()
    response = world.client.post(f"{NODE}/reconciliation/detail", headers={**auth(), **JSON},
                                 content=body.encode())
    assert response.status_code == 200, response.text[:300]
    assert response.json()["hospital_lines"] == 12_000
    assert world.state() == before


EXCHANGE_GARBAGE = {
    "bytes that are not JSON": b"\xff\x00\x01garbage",
    "5 MB of spaces": b" " * 5_000_000,
    "100,000 opening brackets": b"[" * 100_000,
    "an envelope nested 100,000 deep": b'{"sender": "310000", "body": ' + b'{"a": ' * 100_000,
    "an envelope of the wrong shape": json.dumps({"sender": ["310000"], "kind": [1],
                                                  "timestamp": 1e300, "body": []}).encode(),
}


@pytest.mark.parametrize("target", ["nodes/330700", "hub"])
@pytest.mark.parametrize("payload", list(EXCHANGE_GARBAGE.values()), ids=list(EXCHANGE_GARBAGE))
def test_the_exchange_answers_garbage_with_a_signed_refusal_not_a_500(
    world: World, target: str, payload: bytes
) -> None:
    network = world.net.network
    public_key = network.hub.public_key if target == "hub" else network.nodes["330700"].public_key
    before = world.state()
    response = world.client.post(f"/{target}/v1/exchange", content=payload)
    assert response.status_code == 200, response.text[:300]
    reply, signature = unseal(response.content)
    assert verify(public_key, signed_part(reply), signature)
    assert reply.body["ok"] is False
    assert reply.body["error"]["code"] == "BAD_ENVELOPE", reply.body
    assert world.state() == before


def test_refusals_of_the_guard_are_counted_by_the_node_that_refused(world: World) -> None:
    def refused(code: str) -> float:
        metrics = world.client.get(f"/nodes/{SHANGHAI}/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("tongban_refusals_total{") and f'code="{code}"' in line)

    before = refused("JSON_TOO_DEEP")
    response = world.client.post(f"{NODE}/visits", headers={**auth(), **JSON},
                                 content=b"[" * 1000)
    assert_problem(response, 422, "JSON_TOO_DEEP")
    assert refused("JSON_TOO_DEEP") == before + 1


def test_the_openapi_schema_documents_the_problems_the_guard_answers(world: World) -> None:
    schema = world.client.get(f"/nodes/{SHANGHAI}/openapi.json").json()
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(
        schema["components"]["schemas"]["Problem"]["required"])
    for status in ("413", "415", "422"):
        response = schema["paths"]["/v1/settlements"]["post"]["responses"][status]
        assert response["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    settle = schema["paths"]["/v1/settlements"]["post"]["responses"]
    assert settle["202"]["content"] == settle["200"]["content"]  # UNKNOWN: the same body


def test_a_405_names_every_method_its_path_allows(world: World) -> None:
    schema = world.client.get(f"/nodes/{SHANGHAI}/openapi.json").json()
    for path, operations in schema["paths"].items():
        response = world.client.request("TRACE", f"/nodes/{SHANGHAI}{path}")
        assert_problem(response, 405, "METHOD_NOT_ALLOWED")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert {m.upper() for m in operations} <= allowed, (path, allowed)


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[str]:
    """The same network behind a real HTTP server, for what only a socket shows."""
    server = uvicorn.Server(uvicorn.Config(create_network_app(world.net.network),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}{NODE}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "chunked"])
def test_an_oversized_body_over_a_socket_gets_its_413_and_changes_nothing(
    world: World, served: str, chunked: bool
) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"["
        for _ in range(40):  # 2.6 MB, 64 KB at a time, no content-length
            yield b" " * 65_536
        yield b"]"

    body = pieces() if chunked else b"[" + b" " * 2_600_000 + b"]"
    before = world.state()
    response = httpx.post(f"{served}/settlements", headers={**auth(), **JSON}, content=body,
                          timeout=30)
    assert_problem(response, 413, "BODY_TOO_LARGE")
    assert world.state() == before


# --- the guard's own readers, against the parser they protect -------------------------------
text_with_tricks = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    '[]{}"\\\x00\x7f\u200d\u202e\ufeff\ud800'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text_with_tricks,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(text_with_tricks, inner, max_size=3),
    max_leaves=25,
)


def reference_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


def hidden(value: Any) -> bool:
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, dict):
        return any(map(hidden, value)) or any(map(hidden, value.values()))
    if isinstance(value, list):
        return any(map(hidden, value))
    return any(c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cf", "Cs")
               for t in texts for c in t)


@settings(max_examples=300, deadline=None)
@given(value=json_values, ensure_ascii=st.booleans())
def test_the_depth_the_guard_reads_is_the_depth_the_parser_descends(
    value: Any, ensure_ascii: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    assert json_depth(body) == reference_depth(value)


@settings(max_examples=300, deadline=None)
@given(value=json_values, ensure_ascii=st.booleans())
def test_the_guard_refuses_a_body_exactly_when_a_string_hides_a_character(
    value: Any, ensure_ascii: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    if not ensure_ascii and any("\ud800" <= c <= "\udfff" for c in text):
        return  # a raw surrogate is not UTF-8: MALFORMED_JSON, tested above
    try:
        assert parse_json(text.encode()) == value
        refused = None
    except Refusal as refusal:
        refused = refusal.code
    assert refused == ("INVALID_TEXT" if hidden(value) else None)
