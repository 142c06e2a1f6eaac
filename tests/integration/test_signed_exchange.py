"""Signed node-to-node messages, as the home node's gate receives them (DESIGN.md §5).

Envelopes are built here with the real ``seal`` and the Shanghai node's own key (read from
its data directory), then handed to the Jinhua node's gate handler: the same bytes an HTTP
POST to /v1/exchange would carry. A refused message changes nothing at the home node, and
every answer, refusal or not, is signed by the home node and bound to the request's msgid.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, assert_sides_agree, snapshot

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    golden_lines,
)
from tongban.adapters.exchange import seal, signed_part, unseal
from tongban.adapters.signing import load_or_create_key, verify
from tongban.bootstrap import EmbeddedNetwork
from tongban.domain.calendar import local_date
from tongban.entrypoints.api.embedded import create_network_app
from tongban.service_layer.ports import Message

UNTOUCHED = {"deductible_used": 0, "fund_paid": 0, "admissions": 0, "account_balance": 2000}
CHARGED = {"deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}
# The golden bill's four pieces, classified by hand (see protocol_checks.GOLDEN_SPLIT_EMPLOYEE).
GOLDEN_PIECES = {"fulamt_ownpay_amt": 5800, "overlmt_selfpay": 90, "preselfpay_amt": 473,
                 "inscp_scp_amt": 7888}


def key_of(net: SmallNetwork, region: str) -> Ed25519PrivateKey:
    return load_or_create_key(net.network.data_dir / "nodes" / region / "node.key")


def commit_body(net: SmallNetwork, sid: str) -> dict[str, Any]:
    """What the Shanghai node sends for the golden bill of the Jinhua employee at RUIJIN."""
    return {
        "settlement_id": sid,
        "pseudonym": net.node(SHANGHAI).pseudonym_of(EMPLOYEE_ID),
        "med_type": "outpatient",
        "level": 3,
        "institution_code": RUIJIN,
        "settled_on": local_date(net.clock()).isoformat(),
        "emergency": False,
        "pieces": dict(GOLDEN_PIECES),
        "use_account": True,
    }


def message(body: dict[str, Any], kind: str = "commit", sender: str = SHANGHAI,
            recipient: str = JINHUA, age_ms: int = 0) -> Message:
    return Message(sender=sender, recipient=recipient, msgid=uuid.uuid4().hex,
                   timestamp=int(time.time() * 1000) - age_ms, kind=kind, body=body)


def deliver(net: SmallNetwork, payload: bytes, request: Message | None = None) -> dict[str, Any]:
    """Hand the bytes to the home node's gate; check the answer's signature; return its body.

    Given the request, also check that an accepted message's answer is bound to its msgid.
    """
    reply, signature = unseal(net.network.nodes[JINHUA].handler()(payload))
    assert reply.sender == JINHUA and reply.kind == "reply"
    assert verify(net.network.nodes[JINHUA].public_key, signed_part(reply), signature)
    if request is not None and reply.body.get("ok"):
        assert reply.in_reply_to == request.msgid
    return reply.body


def refusal(answer: dict[str, Any]) -> str:
    assert answer["ok"] is False, answer
    return str(answer["error"]["code"])


def home_record(net: SmallNetwork, sid: str) -> Any:
    with net.network.nodes[JINHUA].store.read() as tx:
        return tx.home_settlement(SHANGHAI, sid)


def test_a_commit_sealed_with_the_senders_key_is_accepted_and_the_answer_is_signed(
    net: SmallNetwork,
) -> None:
    request = message(commit_body(net, "x-valid"))
    answer = deliver(net, seal(key_of(net, SHANGHAI), request), request)
    assert answer["ok"] is True, answer
    result = answer["result"]
    assert result["status"] == "COMMITTED"
    assert {k: v for k, v in result["split"].items() if k != "ratio_applied"} == (
        GOLDEN_SPLIT_EMPLOYEE)
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def _tamper(payload: bytes, field: str) -> bytes:
    envelope = json.loads(payload)
    if field == "body":
        envelope["body"]["pieces"]["inscp_scp_amt"] = 1  # a smaller bill, a bigger fund share
    elif field == "timestamp":
        envelope["timestamp"] += 1
    elif field == "msgid":
        envelope["msgid"] = uuid.uuid4().hex
    elif field == "kind":
        envelope["kind"] = "cancel"
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("field", ["body", "timestamp", "msgid", "kind"])
def test_a_message_altered_after_signing_is_rejected_as_a_bad_signature(
    net: SmallNetwork, field: str
) -> None:
    before = snapshot(net)
    sealed = seal(key_of(net, SHANGHAI), message(commit_body(net, "x-tampered")))
    assert refusal(deliver(net, _tamper(sealed, field))) == "BAD_SIGNATURE"
    assert snapshot(net) == before
    assert home_record(net, "x-tampered") is None


def test_a_message_signed_with_someone_elses_key_is_rejected(net: SmallNetwork) -> None:
    before = snapshot(net)
    impostor = Ed25519PrivateKey.generate()
    payload = seal(impostor, message(commit_body(net, "x-impostor")))  # claims to be Shanghai
    assert refusal(deliver(net, payload)) == "BAD_SIGNATURE"
    assert snapshot(net) == before


def test_a_sender_not_in_the_directory_is_rejected(net: SmallNetwork) -> None:
    before = snapshot(net)
    stranger = Ed25519PrivateKey.generate()
    payload = seal(stranger, message(commit_body(net, "x-stranger"), sender="320500"))
    assert refusal(deliver(net, payload)) == "UNKNOWN_SENDER"
    assert snapshot(net) == before


@pytest.mark.parametrize("age_ms", [6 * 60_000, -6 * 60_000], ids=["six-minutes-old",
                                                                   "six-minutes-ahead"])
def test_a_message_outside_the_five_minute_window_is_rejected_as_stale(
    net: SmallNetwork, age_ms: int
) -> None:
    before = snapshot(net)
    payload = seal(key_of(net, SHANGHAI), message(commit_body(net, "x-stale"), age_ms=age_ms))
    assert refusal(deliver(net, payload)) == "STALE_MESSAGE"
    assert snapshot(net) == before


def test_a_message_for_another_region_is_rejected(net: SmallNetwork) -> None:
    before = snapshot(net)
    payload = seal(key_of(net, SHANGHAI), message(commit_body(net, "x-wrong"), recipient=NANJING))
    assert refusal(deliver(net, payload)) == "WRONG_RECIPIENT"
    assert snapshot(net) == before


def test_a_replayed_message_is_rejected_and_charges_nothing_more(net: SmallNetwork) -> None:
    request = message(commit_body(net, "x-replay"))
    payload = seal(key_of(net, SHANGHAI), request)
    assert deliver(net, payload, request)["ok"] is True
    charged = snapshot(net)
    assert refusal(deliver(net, payload, request)) == "REPLAYED_MESSAGE"
    assert snapshot(net) == charged
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


@pytest.mark.parametrize(
    "db_url_for",
    ["sqlite", "postgresql"],
    indirect=True,
)
def test_a_message_replayed_after_the_home_node_restarted_is_still_rejected(
    net: SmallNetwork, tmp_path: Path, db_url_for: Callable[[str], str] | None
) -> None:
    request = message(commit_body(net, "x-replay-restart"))
    payload = seal(key_of(net, SHANGHAI), request)
    assert deliver(net, payload, request)["ok"] is True
    net.close()  # the in-memory replay window is gone with the process
    reopened = SmallNetwork(
        EmbeddedNetwork(tmp_path, db_url_for=db_url_for).open([SHANGHAI, JINHUA, NANJING]),
        net.clock)
    net.network = reopened.network  # the fixture closes this one
    assert refusal(deliver(reopened, payload, request)) == "REPLAYED_MESSAGE"
    assert reopened.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def test_a_region_cannot_cancel_a_settlement_another_region_made(net: SmallNetwork) -> None:
    request = message(commit_body(net, "x-owned"))
    assert deliver(net, seal(key_of(net, SHANGHAI), request))["ok"] is True
    charged = snapshot(net)
    cancel = message({"settlement_id": "x-owned"}, kind="cancel", sender=NANJING)
    # Nanjing's "x-owned" would be its own id: it has none, and Shanghai's is not touched.
    assert refusal(deliver(net, seal(key_of(net, NANJING), cancel))) == "SETTLEMENT_NOT_FOUND"
    assert snapshot(net) == charged


def test_a_home_node_settles_only_its_own_insured(net: SmallNetwork) -> None:
    from network_fixtures import NANJING_ID

    before = snapshot(net)
    body = {**commit_body(net, "x-not-ours"),
            "pseudonym": net.node(SHANGHAI).pseudonym_of(NANJING_ID)}
    assert refusal(deliver(net, seal(key_of(net, SHANGHAI), message(body)))) == (
        "PERSON_NOT_FOUND")
    assert net.person_state(NANJING, NANJING_ID) == before["people"]["nanjing"]
    assert snapshot(net)["people"] == before["people"]


@pytest.mark.parametrize("payload", [b"", b"not json", b"[]", b'{"sender": "310000"}'],
                         ids=["empty", "not-json", "a-list", "no-signature"])
def test_bytes_that_are_not_an_envelope_get_a_signed_refusal_over_http(
    net: SmallNetwork, payload: bytes
) -> None:
    before = snapshot(net)
    with TestClient(create_network_app(net.network)) as client:
        response = client.post(f"/nodes/{JINHUA}/v1/exchange", content=payload)
    assert response.status_code == 200
    reply, signature = unseal(response.content)
    assert verify(net.network.nodes[JINHUA].public_key, signed_part(reply), signature)
    assert reply.body["ok"] is False and reply.body["error"]["code"] == "BAD_ENVELOPE"
    assert snapshot(net) == before


class AnswerSwapped:
    """A man in the middle: delivers the commit, then hands back an old signed refusal."""

    def __init__(self, inner: Any, old_answer: bytes) -> None:
        self.inner, self.old_answer = inner, old_answer

    def send(self, endpoint: str, payload: bytes) -> bytes:
        answer = self.inner.send(endpoint, payload)
        return self.old_answer if json.loads(payload)["kind"] == "commit" else answer


def test_an_old_signed_refusal_swapped_in_for_the_answer_does_not_decide_a_settlement(
    net: SmallNetwork,
) -> None:
    old_refusal = net.network.nodes[JINHUA].handler()(b"not an envelope")
    exchange = net.network.nodes[SHANGHAI].exchange
    exchange.transport = AnswerSwapped(exchange.transport, old_refusal)
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as client:
        headers = {"Authorization": "Bearer key-ruijin"}
        visit = client.post(f"/nodes/{SHANGHAI}/v1/visits", headers=headers,
                            json={"institution_code": RUIJIN, "id_number": EMPLOYEE_ID})
        settled = client.post(f"/nodes/{SHANGHAI}/v1/settlements", headers=headers, json={
            "settlement_id": "x-swapped", "visit_id": visit.json()["visit_id"],
            "lines": golden_lines()})
        assert home_record(net, "x-swapped").status.value == "COMMITTED"
        assert settled.status_code in (202, 503), settled.text
        net.node(SHANGHAI).visit.recover(everything=True)
        status = client.get(f"/nodes/{SHANGHAI}/v1/settlements/x-swapped", headers=headers)
        assert status.json()["status"] == "SETTLED"
    assert_sides_agree(net)
