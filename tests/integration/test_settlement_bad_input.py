"""Bad input of any kind gets a problem+json with a stable code and changes nothing (DESIGN.md §5).

One small network per store backend is shared by the whole module: it holds one settled
settlement of RUIJIN's, and every bad request below must leave the insured people's state and
every settlement table exactly as they were. No response is ever a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pg_schemas import pg_schema_urls
from protocol_checks import assert_problem, assert_sides_agree, snapshot

from network_fixtures import (
    COMMUNITY,
    DISABLED,
    EMPLOYEE_ID,
    JINHUA,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    UNINSURED_ID,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
    resident_auth,
)
from tongban.domain.identifiers import id_check_char
from tongban.entrypoints.api.embedded import create_network_app

NODE = f"/nodes/{SHANGHAI}/v1"
HOME = f"/nodes/{JINHUA}/v1"
BAD_CHECKSUM_ID = EMPLOYEE_ID[:17] + ("0" if EMPLOYEE_ID[17] != "0" else "1")
NO_SUCH_BIRTHDAY = "33070219581307001" + id_check_char("33070219581307001")  # 13th month
CONSULT = {"code": "001102000010000", "quantity": "1", "unit_price": 2500}
RESIDENT = {"Authorization": "{resident}"}  # the world's signed-in Jinhua resident


@dataclass
class World:
    net: SmallNetwork
    client: TestClient
    visit_id: str  # RUIJIN's visit of the Jinhua employee
    settlement_id: str  # settled on that visit
    resident: dict[str, str]  # headers of the Jinhua resident, signed in at home


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    url_for = None
    if request.param == "postgresql":
        url_for = pg_schema_urls(request.getfixturevalue("pg_server_url"))
    data_dir: Path = tmp_path_factory.mktemp("bad-input")
    net = build_small_network(data_dir, db_url_for=url_for)
    client = TestClient(create_network_app(net.network), raise_server_exceptions=False)
    visit = client.post(f"{NODE}/visits", headers=auth(),
                        json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
    assert visit.status_code == 201, visit.text
    settled = client.post(f"{NODE}/settlements", headers=auth(), json={
        "settlement_id": "s-existing", "visit_id": visit.json()["visit_id"],
        "lines": golden_lines()})
    assert settled.status_code == 200, settled.text
    yield World(net, client, visit.json()["visit_id"], "s-existing",
                resident_auth(net, client.post, RESIDENT_ID))
    client.close()
    net.close()


def settle_body(world: World, lines: list[dict[str, Any]], sid: str = "s-new") -> dict[str, Any]:
    return {"settlement_id": sid, "visit_id": world.visit_id, "lines": lines}


def line(**changes: Any) -> list[dict[str, Any]]:
    return [{**CONSULT, **changes}]


# (what, method, path, body or raw bytes, headers, status, code); "{visit}" and "{sid}" are
# filled with the world's visit and settlement; a body given as a function gets the world.
Case = tuple[str, str, str, Any, dict[str, str] | None, int, str]
CASES: list[Case] = [
    ("settle: malformed JSON", "POST", "/settlements", b'{"settlement_id": "s-x", ',
     auth(), 422, "MALFORMED_JSON"),
    ("register: malformed JSON", "POST", "/visits", b"{institution_code: H31000000001}",
     auth(), 422, "MALFORMED_JSON"),
    ("register: ID number with a wrong check character", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": BAD_CHECKSUM_ID}, auth(), 422,
     "INVALID_ID_NUMBER"),
    ("register: ID number with an impossible birth date", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": NO_SUCH_BIRTHDAY}, auth(), 422,
     "INVALID_ID_NUMBER"),
    ("register: not an institution code", "POST", "/visits",
     {"institution_code": "H99", "id_number": EMPLOYEE_ID}, auth(), 422,
     "INVALID_INSTITUTION_CODE"),
    ("register: an institution this key does not belong to", "POST", "/visits",
     {"institution_code": "H31000000099", "id_number": EMPLOYEE_ID}, auth(), 403,
     "INSTITUTION_MISMATCH"),
    ("register: institution not enabled for cross-region settlement", "POST", "/visits",
     {"institution_code": DISABLED, "id_number": EMPLOYEE_ID}, auth(DISABLED), 422,
     "INSTITUTION_NOT_ENABLED"),
    ("register: a person no member region insures", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": UNINSURED_ID}, auth(), 404,
     "PERSON_NOT_LOCATED"),
    ("register: unknown med_type", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID, "med_type": "dental"}, auth(),
     422, "INVALID_REQUEST"),
    ("register: no API key", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID}, None, 401, "UNAUTHENTICATED"),
    ("register: unknown API key", "POST", "/visits",
     {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID},
     {"Authorization": "Bearer not-a-key"}, 401, "UNAUTHENTICATED"),
    ("settle: no API key", "POST", "/settlements",
     lambda w: settle_body(w, line()), None, 401, "UNAUTHENTICATED"),
    ("settle: negative quantity", "POST", "/settlements",
     lambda w: settle_body(w, line(quantity="-1")), auth(), 422, "INVALID_LINE"),
    ("settle: zero quantity", "POST", "/settlements",
     lambda w: settle_body(w, line(quantity="0")), auth(), 422, "INVALID_LINE"),
    ("settle: negative unit price", "POST", "/settlements",
     lambda w: settle_body(w, line(unit_price=-1)), auth(), 422, "INVALID_LINE"),
    ("settle: amount is not quantity × unit price", "POST", "/settlements",
     lambda w: settle_body(w, [*golden_lines(), {**CONSULT, "quantity": "3", "amount": 7000}]),
     auth(), 422, "AMOUNT_MISMATCH"),
    ("settle: unit price as a float", "POST", "/settlements",
     lambda w: settle_body(w, line(unit_price=2500.0)), auth(), 422, "INVALID_REQUEST"),
    ("settle: quantity as a number, not a string", "POST", "/settlements",
     lambda w: settle_body(w, line(quantity=1)), auth(), 422, "INVALID_REQUEST"),
    ("settle: quantity with an exponent", "POST", "/settlements",
     lambda w: settle_body(w, line(quantity="1e3")), auth(), 422, "INVALID_REQUEST"),
    ("settle: no lines", "POST", "/settlements",
     lambda w: settle_body(w, []), auth(), 422, "INVALID_REQUEST"),
    ("settle: an unknown field", "POST", "/settlements",
     lambda w: {**settle_body(w, line()), "discount": 100}, auth(), 422, "INVALID_REQUEST"),
    ("settle: a settlement id with a space", "POST", "/settlements",
     lambda w: settle_body(w, line(), sid="s 1"), auth(), 422, "INVALID_REQUEST"),
    ("settle: a JSON list instead of an object", "POST", "/settlements", [], auth(), 422,
     "INVALID_REQUEST"),
    ("settle: an unknown visit", "POST", "/settlements",
     {"settlement_id": "s-new", "visit_id": "no-such-visit", "lines": [CONSULT]}, auth(), 404,
     "VISIT_NOT_FOUND"),
    ("settle: another hospital's visit", "POST", "/settlements",
     lambda w: settle_body(w, line()), auth(COMMUNITY), 403, "INSTITUTION_MISMATCH"),
    ("settle: another hospital's settlement id", "POST", "/settlements",
     lambda w: settle_body(w, golden_lines(), sid=w.settlement_id), auth(COMMUNITY), 403,
     "INSTITUTION_MISMATCH"),
    ("preview: an unknown visit", "POST", "/visits/no-such-visit/preview",
     {"lines": [CONSULT]}, auth(), 404, "VISIT_NOT_FOUND"),
    ("preview: another hospital's visit", "POST", "/visits/{visit}/preview",
     {"lines": [CONSULT]}, auth(COMMUNITY), 403, "INSTITUTION_MISMATCH"),
    ("visit: another hospital's visit", "GET", "/visits/{visit}", None, auth(COMMUNITY), 403,
     "INSTITUTION_MISMATCH"),
    ("status: another hospital's settlement", "GET", "/settlements/{sid}", None,
     auth(COMMUNITY), 403, "INSTITUTION_MISMATCH"),
    ("status: an unknown settlement", "GET", "/settlements/no-such-id", None, auth(), 404,
     "SETTLEMENT_NOT_FOUND"),
    ("cancel: another hospital's settlement", "POST", "/settlements/{sid}/cancel", None,
     auth(COMMUNITY), 403, "INSTITUTION_MISMATCH"),
    ("cancel: an unknown settlement", "POST", "/settlements/no-such-id/cancel", None, auth(),
     404, "SETTLEMENT_NOT_FOUND"),
    ("cancel: no API key", "POST", "/settlements/{sid}/cancel", None, None, 401,
     "UNAUTHENTICATED"),
    ("no such route", "GET", "/nothing-here", None, auth(), 404, "NOT_FOUND"),
    ("sign-in: ID number with a wrong check character", "POST", "HOME/residents/sign-in",
     {"id_number": BAD_CHECKSUM_ID}, None, 422, "INVALID_ID_NUMBER"),
    ("sign-in: a code that is not 6 digits", "POST", "HOME/residents/session",
     {"challenge_id": "c", "code": "12345a"}, None, 422, "INVALID_REQUEST"),
    ("filing: ID number with a wrong check character", "POST", "HOME/filings",
     {"id_number": BAD_CHECKSUM_ID, "kind": "other", "target_region": SHANGHAI,
      "commitment": True}, RESIDENT, 422, "INVALID_ID_NUMBER"),
    ("filing: without the personal commitment", "POST", "HOME/filings",
     {"kind": "other", "target_region": SHANGHAI, "commitment": False}, RESIDENT, 422,
     "COMMITMENT_REQUIRED"),
    ("filing: for the home region itself", "POST", "HOME/filings",
     {"kind": "other", "target_region": JINHUA, "commitment": True}, RESIDENT, 422,
     "INVALID_FILING"),
    ("filing: for a region outside the delta", "POST", "HOME/filings",
     {"kind": "other", "target_region": "110000", "commitment": True}, RESIDENT, 422,
     "UNKNOWN_REGION"),
    ("filing: a temporary filing shorter than 6 months", "POST", "HOME/filings",
     {"kind": "other", "target_region": SHANGHAI, "months": 3, "commitment": True}, RESIDENT,
     422, "INVALID_FILING"),
    ("filing: for someone else", "POST", "HOME/filings",
     {"id_number": UNINSURED_ID, "kind": "other", "target_region": SHANGHAI,
      "commitment": True}, RESIDENT, 403, "NOT_YOUR_RECORD"),
    ("filing: without signing in", "POST", "HOME/filings",
     {"kind": "other", "target_region": SHANGHAI, "commitment": True}, None, 401,
     "UNAUTHENTICATED"),
    ("revoke: an unknown filing", "POST", "HOME/filings/no-such-filing/revoke", None,
     RESIDENT, 404, "FILING_NOT_FOUND"),
]


def send(world: World, method: str, path: str, body: Any, headers: dict[str, str] | None
         ) -> Any:
    path = path.replace("{visit}", world.visit_id).replace("{sid}", world.settlement_id)
    if headers is RESIDENT:
        headers = world.resident
    url = HOME + path[4:] if path.startswith("HOME/") else NODE + path
    if callable(body):
        body = body(world)
    if isinstance(body, bytes):
        return world.client.request(method, url, content=body,
                                    headers={**(headers or {}), "content-type": "application/json"})
    return world.client.request(method, url, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_a_problem_with_a_stable_code_and_changes_nothing(
    world: World, method: str, path: str, body: Any, headers: dict[str, str] | None,
    status: int, code: str,
) -> None:
    before = snapshot(world.net)
    response = send(world, method, path, body, headers)
    assert_problem(response, status, code)
    assert snapshot(world.net) == before
    assert_sides_agree(world.net)


def test_the_refused_settlement_ids_stay_free_for_a_correct_bill(world: World) -> None:
    """A request refused as bad input recorded nothing, so its id can still be used."""
    bad = send(world, "POST", "/settlements",
               lambda w: settle_body(w, line(quantity="-1"), sid="s-after-bad-input"), auth())
    assert_problem(bad, 422, "INVALID_LINE")
    good = send(world, "POST", "/settlements",
                lambda w: settle_body(w, line(), sid="s-after-bad-input"), auth())
    assert good.status_code == 200, good.text
    assert good.json()["status"] == "SETTLED"
    cancel = send(world, "POST", "/settlements/s-after-bad-input/cancel", None, auth())
    assert cancel.status_code == 200


def test_cancelling_twice_answers_cancelled_both_times_and_restores_once(world: World) -> None:
    before = world.net.person_state(JINHUA, EMPLOYEE_ID)
    visit = send(world, "POST", "/visits",
                 {"institution_code": RUIJIN, "id_number": EMPLOYEE_ID}, auth()).json()
    settled = world.client.post(f"{NODE}/settlements", headers=auth(), json={
        "settlement_id": "s-cancel-twice", "visit_id": visit["visit_id"], "lines": [CONSULT]})
    assert settled.status_code == 200, settled.text
    assert world.net.person_state(JINHUA, EMPLOYEE_ID) != before
    for _ in range(2):
        cancelled = world.client.post(f"{NODE}/settlements/s-cancel-twice/cancel",
                                      headers=auth())
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "CANCELLED"
        assert world.net.person_state(JINHUA, EMPLOYEE_ID) == before
    assert_sides_agree(world.net)


@pytest.mark.parametrize("where", ["settle", "preview"])
@pytest.mark.parametrize("unit_price", [10**20, 10**40], ids=["1e20-fen", "1e40-fen"])
def test_an_absurd_unit_price_is_refused_as_bad_input_not_a_server_error(
    world: World, where: str, unit_price: int
) -> None:
    before = snapshot(world.net)
    lines = line(code="ZC01AAA0001000000000001", unit_price=unit_price)
    if where == "settle":
        response = send(world, "POST", "/settlements",
                        lambda w: settle_body(w, lines, sid=f"s-absurd-{unit_price % 97}"),
                        auth())
    else:
        response = send(world, "POST", "/visits/{visit}/preview", {"lines": lines}, auth())
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("INVALID_LINE", "INVALID_REQUEST")
    assert snapshot(world.net) == before
