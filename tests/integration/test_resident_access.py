"""Residents sign in at their home node with a one-time code and act only for themselves.

Through the HTTP API of the small network (tests/network_fixtures.py), on SQLite and on
PostgreSQL: the code reaches the resident through the node's code sender (SMS in production;
kept in memory here), the session token it buys acts for that one person, and every refusal
(wrong, expired, used or burnt code, another resident's record, a signed-out or expired
token, a hospital key) changes nothing. Hospitals, nodes and the hub: test_access_control.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from protocol_checks import assert_problem, snapshot
from sqlalchemy import select

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    NANJING_ID,
    RESIDENT_ID,
    SHANGHAI,
    UNINSURED_ID,
    SmallNetwork,
    build_small_network,
    resident_auth,
)
from tongban.adapters.code_sender import MemoryCodeSender
from tongban.adapters.storage import schema
from tongban.bootstrap import utc_now
from tongban.domain.identifiers import mask_id_number
from tongban.entrypoints.api.embedded import create_network_app

HOME = f"/nodes/{JINHUA}/v1"
FILING = {"kind": "other", "target_region": SHANGHAI, "commitment": True}
# What a signed-in resident can do; "{filing}" is one of their own filings.
ROUTES = {
    "me": ("GET", "/residents/me", None),
    "list filings": ("GET", "/filings", None),
    "file": ("POST", "/filings", FILING),
    "revoke": ("POST", "/filings/{filing}/revoke", None),
}


class Clock:
    """The network's clock, moved forward by the tests that need time to pass."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def net(tmp_path: Path, db_url_for: Callable[[str], str] | None, clock: Clock
        ) -> Iterator[SmallNetwork]:
    network = build_small_network(tmp_path, db_url_for=db_url_for, clock=clock)
    yield network
    network.close()


@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as c:
        yield c


def sign_in(client: TestClient, id_number: str, region: str = JINHUA) -> Any:
    return client.post(f"/nodes/{region}/v1/residents/sign-in", json={"id_number": id_number})


def exchange(client: TestClient, challenge_id: str, code: str) -> Any:
    return client.post(f"{HOME}/residents/session",
                       json={"challenge_id": challenge_id, "code": code})


def challenge_of(client: TestClient, id_number: str) -> str:
    response = sign_in(client, id_number)
    assert response.status_code == 202, response.text
    return str(response.json()["challenge_id"])


def sender(net: SmallNetwork, region: str = JINHUA) -> MemoryCodeSender:
    codes = net.network.nodes[region].code_sender
    assert isinstance(codes, MemoryCodeSender)
    return codes


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def rows(net: SmallNetwork, table: Any) -> list[dict[str, Any]]:
    with net.network.nodes[JINHUA].store.read() as tx:
        return [dict(r._mapping) for r in tx.conn.execute(select(table))]


def state(net: SmallNetwork) -> dict[str, Any]:
    """What a refused request must not change: people, settlements, filings and sessions."""
    filings = sorted((r["filing_id"], r["person_id"], r["revoked_on"])
                     for r in rows(net, schema.filings))
    sessions = sorted((r["token_hash"], r["revoked_at"])
                      for r in rows(net, schema.resident_sessions))
    return {**snapshot(net), "filings": filings, "sessions": sessions}


def file(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post(f"{HOME}/filings", json=FILING, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["filing_id"])


def call(client: TestClient, route: str, headers: dict[str, str], filing: str = "x") -> Any:
    method, path, body = ROUTES[route]
    return client.request(method, HOME + path.replace("{filing}", filing), json=body,
                          headers=headers)


# --------------------------------------------------------------------------- signing in
def test_a_resident_signs_in_with_the_code_sent_to_them_and_files_for_themselves(
    client: TestClient, net: SmallNetwork, clock: Clock
) -> None:
    started = sign_in(client, RESIDENT_ID)
    assert started.status_code == 202, started.text
    challenge = started.json()
    assert set(challenge) == {"challenge_id", "expires_at", "delivery"}  # no code shown
    assert challenge["delivery"] == "sms"
    assert datetime.fromisoformat(challenge["expires_at"]) - clock() <= timedelta(minutes=5)
    opened = exchange(client, challenge["challenge_id"],
                      net.sent_code(JINHUA, challenge["challenge_id"]))
    assert opened.status_code == 201, opened.text
    session = opened.json()
    expires = datetime.fromisoformat(session["expires_at"]) - clock()
    assert timedelta(minutes=29) < expires <= timedelta(minutes=30)
    headers = {"Authorization": f"Bearer {session['token']}"}

    me = client.get(f"{HOME}/residents/me", headers=headers).json()
    assert me == {"masked_id": mask_id_number(RESIDENT_ID), "masked_name": "李*国",
                  "insutype": "390", "account_balance": 0}
    filing_id = file(client, headers)
    listed = client.get(f"{HOME}/filings", headers=headers).json()
    assert [f["filing_id"] for f in listed] == [filing_id]
    own = client.get(f"{HOME}/filings", params={"id_number": RESIDENT_ID}, headers=headers)
    assert own.json() == listed
    revoked = call(client, "revoke", headers, filing_id)
    assert revoked.status_code == 200 and revoked.json()["revoked_on"] is not None


def test_codes_and_tokens_are_stored_only_as_hashes(client: TestClient, net: SmallNetwork
                                                    ) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    code = net.sent_code(JINHUA, challenge_id)
    token = exchange(client, challenge_id, code).json()["token"]
    stored = rows(net, schema.resident_challenges) + rows(net, schema.resident_sessions)
    values = [str(v) for row in stored for v in row.values()]
    assert code not in values and token not in values
    assert not any(token in v for v in values)
    assert hashlib.sha256(token.encode()).hexdigest() in values


@pytest.mark.parametrize("id_number", [NANJING_ID, UNINSURED_ID],
                         ids=["insured-in-another-region", "insured-nowhere"])
def test_someone_not_insured_here_gets_the_same_answer_and_no_code_is_sent(
    client: TestClient, net: SmallNetwork, id_number: str
) -> None:
    insured = sign_in(client, RESIDENT_ID).json()
    before = state(net)
    stranger = sign_in(client, id_number)
    assert stranger.status_code == 202
    assert set(stranger.json()) == set(insured)
    challenge_id = stranger.json()["challenge_id"]
    assert sender(net).last_code(challenge_id) is None
    for code in ("000000", "123456"):  # any code fails exactly as a wrong one does
        assert_problem(exchange(client, challenge_id, code), 401, "CODE_INVALID")
    assert state(net) == before


def test_a_wrong_code_opens_no_session_and_the_right_one_still_does(
    client: TestClient, net: SmallNetwork
) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    code = net.sent_code(JINHUA, challenge_id)
    before = state(net)
    problem = assert_problem(exchange(client, challenge_id, wrong(code)), 401, "CODE_INVALID")
    assert problem["attempts_left"] == 4
    assert state(net) == before
    assert exchange(client, challenge_id, code).status_code == 201


def test_five_wrong_codes_burn_the_challenge_even_for_the_right_code(
    client: TestClient, net: SmallNetwork
) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    code = net.sent_code(JINHUA, challenge_id)
    before = state(net)
    for left in (4, 3, 2, 1):
        problem = assert_problem(exchange(client, challenge_id, wrong(code)), 401, "CODE_INVALID")
        assert problem["attempts_left"] == left
    assert_problem(exchange(client, challenge_id, wrong(code)), 401, "CODE_ATTEMPTS_EXCEEDED")
    assert_problem(exchange(client, challenge_id, code), 401, "CODE_ATTEMPTS_EXCEEDED")
    assert state(net) == before


def test_guesses_sent_all_at_once_get_five_tries_between_them(
    client: TestClient, net: SmallNetwork
) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    code = net.sent_code(JINHUA, challenge_id)
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 13)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda guess: exchange(client, challenge_id, guess), guesses))
    codes = sorted(a.json()["code"] for a in answers)
    assert codes == ["CODE_ATTEMPTS_EXCEEDED"] * 8 + ["CODE_INVALID"] * 4
    assert [r["attempts"] for r in rows(net, schema.resident_challenges)] == [5]
    assert_problem(exchange(client, challenge_id, code), 401, "CODE_ATTEMPTS_EXCEEDED")
    assert rows(net, schema.resident_sessions) == []


def test_an_expired_code_opens_no_session(client: TestClient, net: SmallNetwork, clock: Clock
                                          ) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    before = state(net)
    clock.advance(minutes=5, seconds=1)
    assert_problem(exchange(client, challenge_id, net.sent_code(JINHUA, challenge_id)), 401,
                   "CODE_EXPIRED")
    assert state(net) == before


def test_a_code_opens_one_session_only(client: TestClient, net: SmallNetwork) -> None:
    challenge_id = challenge_of(client, RESIDENT_ID)
    code = net.sent_code(JINHUA, challenge_id)
    assert exchange(client, challenge_id, code).status_code == 201
    before = state(net)
    assert_problem(exchange(client, challenge_id, code), 401, "CODE_USED")
    assert state(net) == before


def test_an_unknown_challenge_opens_no_session(client: TestClient, net: SmallNetwork) -> None:
    before = state(net)
    assert_problem(exchange(client, "no-such-challenge", "123456"), 404, "CHALLENGE_NOT_FOUND")
    assert state(net) == before


@pytest.mark.parametrize("id_number", [RESIDENT_ID, UNINSURED_ID],
                         ids=["insured-here", "insured-nowhere"])
def test_a_sixth_sign_in_within_fifteen_minutes_is_refused_alike_for_anyone(
    client: TestClient, net: SmallNetwork, clock: Clock, id_number: str
) -> None:
    for _ in range(5):
        assert sign_in(client, id_number).status_code == 202
    before = state(net)
    challenges = len(rows(net, schema.resident_challenges))
    assert_problem(sign_in(client, id_number), 429, "TOO_MANY_SIGN_INS")
    assert len(rows(net, schema.resident_challenges)) == challenges  # and no code sent
    assert state(net) == before
    assert sign_in(client, EMPLOYEE_ID).status_code == 202  # someone else is not held up
    clock.advance(minutes=15, seconds=1)
    assert sign_in(client, id_number).status_code == 202


# --------------------------------------------------------------------------- acting for oneself
@pytest.fixture
def employee_filing(client: TestClient, net: SmallNetwork) -> str:
    """A filing of the Jinhua employee, made by her, signed in."""
    return file(client, resident_auth(net, client.post, EMPLOYEE_ID))


def test_a_resident_cannot_list_another_residents_filings(
    client: TestClient, net: SmallNetwork, employee_filing: str
) -> None:
    resident = resident_auth(net, client.post, RESIDENT_ID)
    before = state(net)
    response = client.get(f"{HOME}/filings", params={"id_number": EMPLOYEE_ID}, headers=resident)
    assert_problem(response, 403, "NOT_YOUR_RECORD")
    assert employee_filing not in response.text
    assert state(net) == before
    assert client.get(f"{HOME}/filings", headers=resident).json() == []


def test_a_resident_cannot_file_for_another_resident(
    client: TestClient, net: SmallNetwork
) -> None:
    resident = resident_auth(net, client.post, RESIDENT_ID)
    before = state(net)
    response = client.post(f"{HOME}/filings", json={**FILING, "id_number": EMPLOYEE_ID},
                           headers=resident)
    assert_problem(response, 403, "NOT_YOUR_RECORD")
    assert state(net) == before


def test_a_resident_cannot_revoke_another_residents_filing_nor_learn_it_exists(
    client: TestClient, net: SmallNetwork, employee_filing: str
) -> None:
    resident = resident_auth(net, client.post, RESIDENT_ID)
    before = state(net)
    theirs = call(client, "revoke", resident, employee_filing)
    unknown = call(client, "revoke", resident, "no-such-filing")
    assert_problem(theirs, 404, "FILING_NOT_FOUND")
    assert_problem(unknown, 404, "FILING_NOT_FOUND")
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert state(net) == before


# --------------------------------------------------------------------------- tokens
def test_a_token_is_refused_after_sign_out(client: TestClient, net: SmallNetwork) -> None:
    headers = resident_auth(net, client.post, RESIDENT_ID)
    other_session = resident_auth(net, client.post, RESIDENT_ID)
    filing = file(client, headers)
    assert client.post(f"{HOME}/residents/sign-out", headers=headers).status_code == 204
    before = state(net)
    for route in ROUTES:
        assert_problem(call(client, route, headers, filing), 401, "SESSION_ENDED")
    assert state(net) == before
    assert client.post(f"{HOME}/residents/sign-out", headers=headers).status_code == 204
    assert client.get(f"{HOME}/residents/me", headers=other_session).status_code == 200


def test_a_token_is_refused_after_thirty_minutes(
    client: TestClient, net: SmallNetwork, clock: Clock
) -> None:
    headers = resident_auth(net, client.post, RESIDENT_ID)
    filing = file(client, headers)
    clock.advance(minutes=29, seconds=59)
    assert call(client, "me", headers).status_code == 200
    clock.advance(seconds=2)
    before = state(net)
    for route in ROUTES:
        assert_problem(call(client, route, headers, filing), 401, "SESSION_EXPIRED")
    assert state(net) == before


CREDENTIALS = {
    "none": {},
    "unknown token": {"Authorization": "Bearer not-a-session"},
    "a hospital's API key": {"Authorization": "Bearer key-ruijin"},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_resident_routes_need_a_residents_session_token(
    client: TestClient, net: SmallNetwork, credential: str
) -> None:
    filing = file(client, resident_auth(net, client.post, RESIDENT_ID))
    before = state(net)
    for route in ROUTES:
        assert_problem(call(client, route, CREDENTIALS[credential], filing), 401,
                       "UNAUTHENTICATED")
    assert state(net) == before


def test_a_hospital_api_key_is_no_resident_token_at_its_own_node_either(
    client: TestClient, net: SmallNetwork
) -> None:
    before = state(net)
    response = client.get(f"/nodes/{SHANGHAI}/v1/filings",
                          headers={"Authorization": "Bearer key-ruijin"})
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert state(net) == before


def test_a_session_of_one_home_node_is_not_valid_at_another(
    client: TestClient, net: SmallNetwork
) -> None:
    headers = resident_auth(net, client.post, RESIDENT_ID)
    before = state(net)
    response = client.get(f"/nodes/{NANJING}/v1/residents/me", headers=headers)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert state(net) == before


def test_a_sign_in_answer_shows_the_code_only_on_a_node_showing_demo_codes(
    client: TestClient, net: SmallNetwork
) -> None:
    assert "demo_code" not in sign_in(client, RESIDENT_ID).json()
    sender(net).show_codes = True
    shown = sign_in(client, RESIDENT_ID).json()
    assert shown["demo_code"] == net.sent_code(JINHUA, shown["challenge_id"])
    assert "demo_code" not in sign_in(client, UNINSURED_ID).json()  # none was sent
    assert exchange(client, shown["challenge_id"], shown["demo_code"]).status_code == 201
