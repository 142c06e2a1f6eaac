"""No one let in: every access-control refusal of hospitals, nodes and the hub (DESIGN.md §5).

Hospitals act only for their own institution at their own node; a node answers home-side
questions only about its own insured and settlements the asking region made, and obeys only
the hub for clearing; the hub's locator files a person under the region that registers them.
Each refusal is checked to change nothing. Residents' sign-in: test_resident_access.py.

The rules are the services' own, whatever the store, so this module runs on SQLite; the
stores themselves are exercised on both backends elsewhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from protocol_checks import assert_problem, snapshot
from sqlalchemy import text

from network_fixtures import (
    COMMUNITY,
    DISABLED,
    EMPLOYEE_ID,
    JINHUA,
    KEYS,
    NANJING,
    NANJING_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
    resident_auth,
)
from tongban.adapters.exchange import seal, unseal
from tongban.adapters.signing import load_or_create_key
from tongban.domain.calendar import local_date
from tongban.domain.directory import HUB
from tongban.entrypoints.api.embedded import create_network_app
from tongban.errors import TongbanError
from tongban.service_layer.ports import Message
from tongban.service_layer.records import InstitutionRecord

NODE = f"/nodes/{SHANGHAI}/v1"
CONSULT = [{"code": "001102000010000", "quantity": "1", "unit_price": 2500}]
NANJING_HOSPITAL = "H32010000001"
EXTRA_TABLES = ("inbox", "ledger_transfers", "statements", "resident_sessions", "locator_cache")


@dataclass
class World:
    net: SmallNetwork
    client: TestClient
    visit_id: str  # RUIJIN's visit of the Jinhua employee
    settlement_id: str  # RUIJIN's settlement on it, SETTLED (committed at Jinhua)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    net = build_small_network(tmp_path_factory.mktemp("access"))
    net.node(NANJING).load_reference(
        institutions=[(InstitutionRecord(NANJING_HOSPITAL, "江苏省人民医院", 3, True), "key-nj")])
    client = TestClient(create_network_app(net.network), raise_server_exceptions=False)
    visit = client.post(f"{NODE}/visits", headers=auth(),
                        json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID}).json()
    settled = client.post(f"{NODE}/settlements", headers=auth(), json={
        "settlement_id": "s-ruijin", "visit_id": visit["visit_id"], "lines": golden_lines()})
    assert settled.json()["status"] == "SETTLED", settled.text
    yield World(net, client, visit["visit_id"], "s-ruijin")
    client.close()
    net.close()


def state(net: SmallNetwork) -> dict[str, Any]:
    """Everything a refused request could have changed, on every node and at the hub."""
    counts = {}
    for region, runtime in net.network.nodes.items():
        with runtime.store.read() as tx:
            counts[region] = {table: tx.count(table) for table in EXTRA_TABLES}
    with net.network.hub.store.db.read() as conn:
        located = conn.execute(text("SELECT pseudonym, home_region FROM person_locator")).all()
    return {**snapshot(net), "more": counts, "locator": sorted(map(tuple, located))}


def shanghai_today() -> date:
    """The day the nodes date settlements by (Asia/Shanghai), not the machine's local day."""
    return local_date(datetime.now(UTC))


# --------------------------------------------------------------------------- hospitals
def _routes(w: World) -> dict[str, tuple[str, str, Any]]:
    today = shanghai_today().isoformat()
    return {
        "register": ("POST", "/visits", {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID}),
        "visit": ("GET", f"/visits/{w.visit_id}", None),
        "preview": ("POST", f"/visits/{w.visit_id}/preview", {"lines": CONSULT}),
        "settle": ("POST", "/settlements",
                   {"settlement_id": "s-new", "visit_id": w.visit_id, "lines": CONSULT}),
        "status": ("GET", f"/settlements/{w.settlement_id}", None),
        "cancel": ("POST", f"/settlements/{w.settlement_id}/cancel", None),
        "reconcile": ("POST", "/reconciliation",
                      {"from_date": today, "to_date": today, "totals": []}),
        "reconcile detail": ("POST", "/reconciliation/detail",
                             {"from_date": today, "to_date": today, "lines": []}),
    }


ROUTES = ["register", "visit", "preview", "settle", "status", "cancel", "reconcile",
          "reconcile detail"]
NO_KEY: dict[str, dict[str, str]] = {
    "none": {},
    "unknown key": {"Authorization": "Bearer not-a-key"},
    "empty bearer": {"Authorization": "Bearer "},
    "right key, not as a bearer token": {"Authorization": f"Basic {KEYS[RUIJIN]}"},
    "right key in another header": {"X-Api-Key": KEYS[RUIJIN]},
    "the key of a hospital of another node": {"Authorization": "Bearer key-nj"},
}


@pytest.mark.parametrize("credential", list(NO_KEY))
@pytest.mark.parametrize("route", ROUTES)
def test_a_hospital_route_without_a_valid_api_key_is_refused_and_changes_nothing(
    world: World, route: str, credential: str
) -> None:
    method, path, body = _routes(world)[route]
    before = state(world.net)
    response = world.client.request(method, NODE + path, json=body, headers=NO_KEY[credential])
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert "split" not in response.json() and "masked_name" not in response.json()
    assert state(world.net) == before


def test_a_residents_session_token_is_not_a_hospital_api_key(world: World) -> None:
    resident = resident_auth(world.net, world.client.post, EMPLOYEE_ID)
    before = state(world.net)
    for route in ROUTES:
        method, path, body = _routes(world)[route]
        response = world.client.request(method, NODE + path, json=body, headers=resident)
        assert_problem(response, 401, "UNAUTHENTICATED")
    assert state(world.net) == before


def test_a_hospital_cannot_register_a_visit_under_another_institutions_code(
    world: World,
) -> None:
    before = state(world.net)
    response = world.client.post(f"{NODE}/visits", headers=auth(COMMUNITY),
                                 json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
    assert_problem(response, 403, "INSTITUTION_MISMATCH")
    assert state(world.net) == before


# Another institution's visit or settlement: each use refused, nothing of it shown.
OTHERS = ["visit", "preview", "settle", "status", "cancel"]


@pytest.mark.parametrize("route", OTHERS)
def test_a_hospital_cannot_use_another_institutions_visit_or_settlement(
    world: World, route: str
) -> None:
    method, path, body = _routes(world)[route]
    before = state(world.net)
    response = world.client.request(method, NODE + path, json=body, headers=auth(COMMUNITY))
    problem = assert_problem(response, 403, "INSTITUTION_MISMATCH")
    assert "split" not in problem and "masked_name" not in problem and "masked_id" not in problem
    assert state(world.net) == before
    status = world.client.get(f"{NODE}/settlements/{world.settlement_id}", headers=auth())
    assert status.json()["status"] == "SETTLED"


def test_a_hospital_cannot_settle_under_an_id_another_institution_settled(
    world: World,
) -> None:
    community_visit = world.client.post(f"{NODE}/visits", headers=auth(COMMUNITY), json={
        "institution_code": COMMUNITY, "id_number": EMPLOYEE_ID}).json()["visit_id"]
    before = state(world.net)
    response = world.client.post(f"{NODE}/settlements", headers=auth(COMMUNITY), json={
        "settlement_id": world.settlement_id, "visit_id": community_visit,
        "lines": golden_lines()})
    assert_problem(response, 403, "INSTITUTION_MISMATCH")
    assert state(world.net) == before


@pytest.mark.parametrize("route", ["reconcile", "reconcile detail"])
def test_a_hospital_cannot_reconcile_for_another_institution(world: World, route: str) -> None:
    method, path, body = _routes(world)[route]
    before = state(world.net)
    response = world.client.request(method, NODE + path, headers=auth(COMMUNITY),
                                    json={**body, "institution_code": RUIJIN})
    assert_problem(response, 403, "INSTITUTION_MISMATCH")
    assert state(world.net) == before


def test_a_hospitals_reconciliation_never_counts_another_institutions_settlements(
    world: World,
) -> None:
    _, path, body = _routes(world)["reconcile"]
    mine = world.client.post(NODE + path, headers=auth(COMMUNITY), json=body).json()
    theirs = world.client.post(NODE + path, headers=auth(), json=body).json()
    assert mine["institution_code"] == COMMUNITY and mine["node"]["settle_count"] == 0
    assert theirs["node"]["settle_count"] >= 1


def test_an_institution_not_enabled_for_cross_region_settlement_cannot_register(
    world: World,
) -> None:
    before = state(world.net)
    response = world.client.post(f"{NODE}/visits", headers=auth(DISABLED),
                                 json={"institution_code": DISABLED, "id_number": EMPLOYEE_ID})
    assert_problem(response, 422, "INSTITUTION_NOT_ENABLED")
    assert state(world.net) == before


@pytest.mark.parametrize("route", ["preview", "settle"])
def test_an_institution_disabled_after_registering_can_no_longer_preview_or_settle(
    tmp_path: Path, route: str
) -> None:
    net = build_small_network(tmp_path)
    try:
        with TestClient(create_network_app(net.network)) as client:
            w = World(net, client, client.post(f"{NODE}/visits", headers=auth(), json={
                "institution_code": RUIJIN, "id_number": EMPLOYEE_ID}).json()["visit_id"], "-")
            with net.network.nodes[SHANGHAI].store.db.write() as conn:
                conn.execute(text("UPDATE institutions SET enabled = false WHERE code = :c"),
                             {"c": RUIJIN})
            net.node(SHANGHAI).reload_reference()
            method, path, body = _routes(w)[route]
            before = state(net)
            response = client.request(method, NODE + path, json=body, headers=auth())
            assert_problem(response, 422, "INSTITUTION_NOT_ENABLED")
            assert state(net) == before
    finally:
        net.close()


# --------------------------------------------------------------------------- node to node
def ask(net: SmallNetwork, sender: str, recipient: str, kind: str, body: dict[str, Any]
        ) -> dict[str, Any]:
    """A signed call from one node (its own key, the real exchange) to another or the hub."""
    return net.network.nodes[sender].exchange.call(recipient, kind, body)


def refused(net: SmallNetwork, sender: str, recipient: str, kind: str, body: dict[str, Any]
            ) -> str:
    with pytest.raises(TongbanError) as refusal:
        ask(net, sender, recipient, kind, body)
    return refusal.value.code


def pseudonym(net: SmallNetwork, id_number: str) -> str:
    return str(net.node(SHANGHAI).pseudonym_of(id_number))


def quote_body(net: SmallNetwork, id_number: str) -> dict[str, Any]:
    return {"pseudonym": pseudonym(net, id_number), "med_type": "outpatient", "level": 3,
            "institution_code": RUIJIN, "settled_on": shanghai_today().isoformat(),
            "emergency": False, "use_account": True,
            "pieces": {"fulamt_ownpay_amt": 0, "overlmt_selfpay": 0, "preselfpay_amt": 0,
                       "inscp_scp_amt": 2500}}


@pytest.mark.parametrize("kind", ["person", "quote"])
def test_a_home_node_answers_no_questions_about_people_it_does_not_insure(
    world: World, kind: str
) -> None:
    body = {**quote_body(world.net, NANJING_ID), "visit_date": shanghai_today().isoformat()}
    before = state(world.net)
    assert refused(world.net, SHANGHAI, JINHUA, kind, body) == "PERSON_NOT_FOUND"
    assert state(world.net) == before


def test_a_home_node_refuses_a_person_question_with_a_bad_date_as_a_bad_message(
    world: World,
) -> None:
    body = {**quote_body(world.net, EMPLOYEE_ID), "visit_date": "tomorrow"}
    assert refused(world.net, SHANGHAI, JINHUA, "person", body) == "BAD_MESSAGE"


@pytest.mark.parametrize("kind", ["quote", "commit"])
def test_a_region_cannot_settle_in_the_name_of_another_regions_hospital(
    world: World, kind: str
) -> None:
    body = {**quote_body(world.net, EMPLOYEE_ID), "settlement_id": f"nj-as-ruijin-{kind}"}
    before = state(world.net)
    assert refused(world.net, NANJING, JINHUA, kind, body) == "INSTITUTION_MISMATCH"
    assert state(world.net) == before
    ok = {**body, "institution_code": NANJING_HOSPITAL, "settlement_id": f"nj-own-{kind}"}
    assert "split" in ask(world.net, NANJING, JINHUA, "quote", ok)  # its own hospital: answered


def test_a_region_learns_nothing_of_the_status_of_a_settlement_another_region_made(
    world: World,
) -> None:
    before = state(world.net)
    theirs = ask(world.net, NANJING, JINHUA, "status", {"settlement_id": world.settlement_id})
    unknown = ask(world.net, NANJING, JINHUA, "status", {"settlement_id": "never-seen"})
    assert theirs == unknown == {"status": None}
    assert state(world.net) == before


def test_a_region_resolving_an_id_another_region_used_touches_only_its_own(
    world: World,
) -> None:
    answer = ask(world.net, NANJING, JINHUA, "resolve", {"settlement_id": world.settlement_id})
    assert answer["status"] == "ABORTED"  # Nanjing's own id of that name, never committed
    with world.net.network.nodes[JINHUA].store.read() as tx:
        record = tx.home_settlement(SHANGHAI, world.settlement_id)
        tombstone = tx.home_settlement(NANJING, world.settlement_id)
    assert record is not None and record.status.value == "COMMITTED"
    assert tombstone is not None and tombstone.status.value == "ABORTED"


def test_a_region_cannot_void_another_regions_settlement_id_in_advance(tmp_path: Path) -> None:
    net = build_small_network(tmp_path)
    try:
        ask(net, NANJING, JINHUA, "resolve", {"settlement_id": "his-0001"})
        with TestClient(create_network_app(net.network)) as client:
            visit = client.post(f"{NODE}/visits", headers=auth(), json={
                "institution_code": RUIJIN, "id_number": EMPLOYEE_ID}).json()["visit_id"]
            settled = client.post(f"{NODE}/settlements", headers=auth(), json={
                "settlement_id": "his-0001", "visit_id": visit, "lines": CONSULT})
        assert settled.status_code == 200, settled.text
        assert settled.json()["status"] == "SETTLED"
    finally:
        net.close()


def test_two_regions_hospitals_may_use_the_same_settlement_id_for_one_home(
    tmp_path: Path,
) -> None:
    # Hospitals choose their ids; they are unique in their own region only.
    net = build_small_network(tmp_path)
    try:
        with TestClient(create_network_app(net.network)) as client:
            visit = client.post(f"{NODE}/visits", headers=auth(), json={
                "institution_code": RUIJIN, "id_number": EMPLOYEE_ID}).json()["visit_id"]
            settled = client.post(f"{NODE}/settlements", headers=auth(), json={
                "settlement_id": "his-0002", "visit_id": visit, "lines": CONSULT})
        assert settled.json()["status"] == "SETTLED", settled.text
        body = {**quote_body(net, EMPLOYEE_ID), "institution_code": NANJING_HOSPITAL,
                "settlement_id": "his-0002"}
        assert ask(net, NANJING, JINHUA, "commit", body)["status"] == "COMMITTED"
        with net.network.nodes[JINHUA].store.read() as tx:
            shanghai = tx.home_settlement(SHANGHAI, "his-0002")
            nanjing = tx.home_settlement(NANJING, "his-0002")
        assert shanghai is not None and nanjing is not None
        assert (shanghai.status.value, nanjing.status.value) == ("COMMITTED", "COMMITTED")
    finally:
        net.close()


@pytest.mark.parametrize("kind", ["report", "report.recheck", "statement", "period.closed"])
def test_a_node_obeys_only_the_hub_for_clearing(world: World, kind: str) -> None:
    body = {"side": "home", "event": "settle", "until": "2099-01-01T00:00:00+00:00",
            "keys": [], "period": "2026-11", "digest": "x", "statement": {}, "signature": "x"}
    before = state(world.net)
    assert refused(world.net, SHANGHAI, JINHUA, kind, body) == "HUB_ONLY"
    assert state(world.net) == before


def test_a_node_answers_no_kind_it_does_not_know(world: World) -> None:
    before = state(world.net)
    assert refused(world.net, SHANGHAI, JINHUA, "locator.register", {}) == "UNKNOWN_KIND"
    assert state(world.net) == before


def _signed(key: Ed25519PrivateKey, sender: str, recipient: str, kind: str,
            body: dict[str, Any]) -> bytes:
    return seal(key, Message(sender=sender, recipient=recipient, msgid=uuid.uuid4().hex,
                             timestamp=int(time.time() * 1000), kind=kind, body=body))


def _answer(handler: Any, payload: bytes) -> dict[str, Any]:
    reply, _signature = unseal(handler(payload))
    return reply.body


def test_a_node_cannot_pass_itself_off_as_the_hub(world: World) -> None:
    own_key = load_or_create_key(world.net.network.data_dir / "nodes" / SHANGHAI / "node.key")
    payload = _signed(own_key, HUB, JINHUA, "report",
                      {"side": "home", "event": "settle", "until": "2099-01-01T00:00:00+00:00"})
    before = state(world.net)
    answer = _answer(world.net.network.nodes[JINHUA].handler(), payload)
    assert answer["ok"] is False and answer["error"]["code"] == "BAD_SIGNATURE"
    assert state(world.net) == before


# --------------------------------------------------------------------------- the hub
def test_the_hub_files_registered_people_under_the_registering_region_only(
    world: World,
) -> None:
    newcomer = "ab" * 32
    answer = ask(world.net, NANJING, HUB, "locator.register",
                 {"pseudonyms": [newcomer], "home_region": JINHUA})  # the claim is ignored
    assert answer == {"registered": 1, "held_by_another_region": 0}
    assert ask(world.net, SHANGHAI, HUB, "locator.lookup", {"pseudonym": newcomer}) == {
        "home_region": NANJING}


def test_no_region_can_take_over_another_regions_insured_until_they_are_released(
    world: World,
) -> None:
    jinhua_person = pseudonym(world.net, EMPLOYEE_ID)
    answer = ask(world.net, NANJING, HUB, "locator.register", {"pseudonyms": [jinhua_person]})
    assert answer == {"registered": 0, "held_by_another_region": 1}
    where = {"pseudonym": jinhua_person}
    assert ask(world.net, SHANGHAI, HUB, "locator.lookup", where) == {"home_region": JINHUA}
    # Nanjing cannot release her either; Jinhua can (she moved), and then Nanjing registers her.
    assert ask(world.net, NANJING, HUB, "locator.release", {"pseudonyms": [jinhua_person]}) == {
        "released": 0}
    assert ask(world.net, JINHUA, HUB, "locator.release", {"pseudonyms": [jinhua_person]}) == {
        "released": 1}
    assert ask(world.net, NANJING, HUB, "locator.register", {"pseudonyms": [jinhua_person]})[
        "registered"] == 1
    assert ask(world.net, SHANGHAI, HUB, "locator.lookup", where) == {"home_region": NANJING}
    ask(world.net, NANJING, HUB, "locator.release", {"pseudonyms": [jinhua_person]})  # as found
    ask(world.net, JINHUA, HUB, "locator.register", {"pseudonyms": [jinhua_person]})


@pytest.mark.parametrize("pseudonyms", [None, "ab" * 32, ["short"], [1234], ["ab" * 32, None],
                                        ["zz" * 32], ["AB" * 32]],
                         ids=["missing", "not-a-list", "too-short", "a-number", "one-bad",
                              "not-hex", "upper-case"])
def test_the_hub_refuses_a_malformed_registration_and_registers_none_of_it(
    world: World, pseudonyms: Any
) -> None:
    before = state(world.net)
    body = {} if pseudonyms is None else {"pseudonyms": pseudonyms}
    assert refused(world.net, NANJING, HUB, "locator.register", body) == "BAD_MESSAGE"
    assert state(world.net) == before


def test_the_hub_locates_no_one_it_was_not_told_about(world: World) -> None:
    assert refused(world.net, SHANGHAI, HUB, "locator.lookup",
                   {"pseudonym": "cd" * 32}) == "PERSON_NOT_LOCATED"


@pytest.mark.parametrize("kind", ["locator.register", "locator.lookup", "directory.get"])
def test_the_hub_answers_no_one_outside_the_directory(world: World, kind: str) -> None:
    stranger = Ed25519PrivateKey.generate()
    body = {"pseudonyms": ["ef" * 32], "pseudonym": pseudonym(world.net, EMPLOYEE_ID)}
    before = state(world.net)
    answer = _answer(world.net.network.hub.handler(), _signed(stranger, "320500", HUB, kind, body))
    assert answer["ok"] is False and answer["error"]["code"] == "UNKNOWN_SENDER"
    assert "result" not in answer
    assert state(world.net) == before


@pytest.mark.parametrize("kind", ["commit", "person", "report"])
def test_the_hub_answers_no_node_kinds(world: World, kind: str) -> None:
    before = state(world.net)
    assert refused(world.net, SHANGHAI, HUB, kind, quote_body(world.net, EMPLOYEE_ID)) == (
        "UNKNOWN_KIND")
    assert state(world.net) == before
