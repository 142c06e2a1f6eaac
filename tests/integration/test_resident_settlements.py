"""A resident sees her settlements in other regions at her home node, each split explained step
by step with the bill lines the visit node sends back over the signed exchange (kind
``lines``), and nobody else's; without the visit node she still gets the split explained.

Through the HTTP API of the small network (tests/network_fixtures.py), on SQLite and on
PostgreSQL. Figures are worked out by hand from DESIGN.md §4 (see protocol_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, assert_problem
from sqlalchemy import text

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    golden_lines,
    resident_auth,
)
from tongban.adapters.transport import FaultyTransport
from tongban.entrypoints.api.embedded import create_network_app
from tongban.service_layer.records import InstitutionRecord

HOME = f"/nodes/{JINHUA}/v1/residents/me/settlements"
NANJING_HOSPITAL = "H32010000001"
BIG_BILL = [{"code": "001102000010000", "quantity": "1", "unit_price": 300000}]
AFTER_THE_LINES = ["pieces", "deductible", "ratio", "account", "cash"]
# The golden bill's lines classified by hand (protocol_checks.py):
# (code, amount, ownpay, overlimit, preselfpay, covered)
GOLDEN_LINES = [
    ("001102000010000", 2500, 0, 0, 0, 2500),
    ("XA01ABD075A002010100483", 3690, 0, 90, 360, 3240),
    ("ZC01AAA0001000000000001", 5800, 5800, 0, 0, 0),
    ("XN02BEA005A001010101234", 2261, 0, 0, 113, 2148),
]


@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as c:
        yield c


def settle(
    client: TestClient, sid: str, lines: list[dict[str, Any]], id_number: str = EMPLOYEE_ID
) -> Any:
    base = f"/nodes/{SHANGHAI}/v1"
    visit = client.post(
        f"{base}/visits", headers=auth(), json={"institution_code": RUIJIN, "id_number": id_number}
    )
    assert visit.status_code == 201, visit.text
    return client.post(
        f"{base}/settlements",
        headers=auth(),
        json={"settlement_id": sid, "visit_id": visit.json()["visit_id"], "lines": lines},
    )


def settled(client: TestClient, sid: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    answer = settle(client, sid, lines)
    assert answer.status_code == 200 and answer.json()["status"] == "SETTLED", answer.text
    return dict(answer.json())


def detail(client: TestClient, headers: dict[str, str], sid: str, region: str = SHANGHAI) -> Any:
    return client.get(f"{HOME}/{region}/{sid}", headers=headers)


def steps(explanation: list[dict[str, Any]]) -> list[str]:
    return [s["step"] for s in explanation]


def step(explanation: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {
        k: v for k, v in next(s for s in explanation if s["step"] == name).items() if k != "step"
    }


def test_a_resident_sees_her_settlement_elsewhere_committed_then_cancelled(
    client: TestClient, net: SmallNetwork
) -> None:
    answer = settled(client, "s-golden", golden_lines())
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    listed = client.get(HOME, headers=me)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()
    assert {
        k: item[k]
        for k in (
            "settlement_id",
            "visit_region",
            "institution_code",
            "med_type",
            "status",
            "settled_on",
        )
    } == {
        "settlement_id": "s-golden",
        "visit_region": SHANGHAI,
        "institution_code": RUIJIN,
        "med_type": "outpatient",
        "status": "COMMITTED",
        "settled_on": answer["settled_on"],
    }
    split = GOLDEN_SPLIT_EMPLOYEE
    assert (item["medfee"], item["fund"], item["account"], item["cash"]) == (
        split["medfee_sumamt"],
        split["hifp_pay"],
        split["acct_pay"],
        split["psn_cash_pay"],
    )

    cancel = client.post(f"/nodes/{SHANGHAI}/v1/settlements/s-golden/cancel", headers=auth())
    assert cancel.status_code == 200 and cancel.json()["status"] == "CANCELLED", cancel.text
    [after] = client.get(HOME, headers=me).json()
    assert (after["settlement_id"], after["status"]) == ("s-golden", "CANCELLED")
    explained = detail(client, me, "s-golden").json()
    assert explained["status"] == "CANCELLED" and explained["lines"] == answer["lines"]


def test_the_split_is_explained_line_by_line_with_the_lines_the_hospital_was_answered(
    client: TestClient, net: SmallNetwork
) -> None:
    answer = settled(client, "s-golden", golden_lines())
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    response = detail(client, me, "s-golden")
    assert response.status_code == 200, response.text
    explained = response.json()
    assert (
        explained["split"] == answer["split"] == {**GOLDEN_SPLIT_EMPLOYEE, "ratio_applied": "0.65"}
    )
    assert explained["lines"] == answer["lines"]
    explanation = explained["explanation"]
    assert steps(explanation) == ["line"] * 4 + AFTER_THE_LINES
    lines = [
        (
            s["code"],
            s["amount"],
            s["fulamt_ownpay_amt"],
            s["overlmt_selfpay"],
            s["preselfpay_amt"],
            s["inscp_scp_amt"],
        )
        for s in explanation[:4]
    ]
    assert lines == GOLDEN_LINES
    lozenges = explanation[1]  # B class: 10 % self-paid, 12 yuan cap per unit
    assert (lozenges["name"], lozenges["class"], lozenges["price_cap"]) == (
        "地喹氯铵含片",
        "B",
        1200,
    )
    assert Decimal(lozenges["selfpay_ratio"]) == Decimal("0.10")
    assert step(explanation, "pieces") == {
        "medfee": 14251,
        "ownpay": 5800,
        "overlimit": 90,
        "preselfpay": 473,
        "covered": 7888,
    }
    # The whole covered part went to the deductible: nothing left for the fund's ratio.
    assert step(explanation, "deductible") == {"amount": 7888, "covered": 7888}
    assert step(explanation, "ratio") == {"base": 0, "ratio": "0.65", "fund": 0, "copay": 0}
    assert step(explanation, "account") == {"amount": 2000}
    assert step(explanation, "cash") == {"amount": 12251}


def test_a_second_bill_shows_what_was_left_of_the_deductible_and_the_funds_ratio(
    client: TestClient, net: SmallNetwork
) -> None:
    settled(client, "s-golden", golden_lines())
    settled(client, "s-big", BIG_BILL)
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    explanation = detail(client, me, "s-big").json()["explanation"]
    # 150,000 − 7,888 used = 142,112 left; base 300,000 − 142,112 = 157,888;
    # fund round(157,888 × 0.65) = 102,627 (102,627.2); copay 55,261; account empty (0).
    assert steps(explanation) == ["line", *AFTER_THE_LINES]
    assert step(explanation, "deductible") == {"amount": 142112, "covered": 300000}
    assert step(explanation, "ratio") == {
        "base": 157888,
        "ratio": "0.65",
        "fund": 102627,
        "copay": 55261,
    }
    assert step(explanation, "account") == {"amount": 0}
    assert step(explanation, "cash") == {"amount": 300000 - 102627}
    assert [i["settlement_id"] for i in client.get(HOME, headers=me).json()] == [
        "s-big",
        "s-golden",
    ]  # newest first


def test_a_refused_bill_is_no_settlement_of_the_residents(
    client: TestClient, net: SmallNetwork
) -> None:
    refused = settle(client, "s-unfiled", golden_lines(), RESIDENT_ID)
    assert_problem(refused, 422, "FILING_REQUIRED")
    me = resident_auth(net, client.post, RESIDENT_ID)
    assert client.get(HOME, headers=me).json() == []
    assert_problem(detail(client, me, "s-unfiled"), 404, "SETTLEMENT_NOT_FOUND")


def test_another_residents_settlement_is_not_found_as_an_unknown_one(
    client: TestClient, net: SmallNetwork
) -> None:
    settled(client, "s-golden", golden_lines())
    other = resident_auth(net, client.post, RESIDENT_ID)
    theirs = detail(client, other, "s-golden")
    unknown = detail(client, other, "s-never")
    assert_problem(theirs, 404, "SETTLEMENT_NOT_FOUND")
    assert_problem(unknown, 404, "SETTLEMENT_NOT_FOUND")
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert "14251" not in theirs.text and "split" not in theirs.json()
    assert client.get(HOME, headers=other).json() == []
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    assert_problem(detail(client, me, "s-golden", NANJING), 404, "SETTLEMENT_NOT_FOUND")


@pytest.mark.parametrize("credential", ["none", "a hospital's API key", "another home's token"])
def test_a_residents_settlements_need_her_own_home_nodes_session(
    client: TestClient, net: SmallNetwork, credential: str
) -> None:
    settled(client, "s-golden", golden_lines())
    headers = {"none": {}, "a hospital's API key": auth()}.get(credential)
    if headers is None:  # a Jinhua session, shown at Nanjing's node
        headers = resident_auth(net, client.post, EMPLOYEE_ID)
        for path in (
            f"/nodes/{NANJING}/v1/residents/me/settlements",
            f"/nodes/{NANJING}/v1/residents/me/settlements/{SHANGHAI}/s-golden",
        ):
            assert_problem(client.get(path, headers=headers), 401, "UNAUTHENTICATED")
        return
    for path in (HOME, f"{HOME}/{SHANGHAI}/s-golden"):
        assert_problem(client.get(path, headers=headers), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("fault", ["request lost", "answer lost"])
def test_without_the_visit_node_the_split_is_still_explained_without_lines(
    client: TestClient, net: SmallNetwork, fault: str
) -> None:
    settled(client, "s-golden", golden_lines())
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    home = net.network.nodes[JINHUA].exchange
    faulty = FaultyTransport(home.transport)
    to_shanghai = lambda endpoint, payload: endpoint == f"inproc://{SHANGHAI}"  # noqa: E731
    if fault == "request lost":
        faulty.drop_request = to_shanghai
    else:
        faulty.drop_answer = to_shanghai
    home.transport = faulty
    response = detail(client, me, "s-golden")
    assert response.status_code == 200, response.text
    explained = response.json()
    assert faulty.dropped_requests + faulty.dropped_answers == 1
    assert explained["lines"] is None
    assert steps(explained["explanation"]) == AFTER_THE_LINES
    assert step(explained["explanation"], "pieces")["covered"] == 7888
    assert step(explained["explanation"], "cash") == {"amount": 12251}
    assert explained["status"] == "COMMITTED"


def test_a_line_whose_code_left_the_catalogue_has_no_ratio_or_cap(
    client: TestClient, net: SmallNetwork
) -> None:
    settled(client, "s-golden", golden_lines())
    shanghai = net.network.nodes[SHANGHAI]
    with shanghai.store.write() as tx:
        tx.conn.execute(text("DELETE FROM catalogue WHERE code = 'XA01ABD075A002010100483'"))
    shanghai.service.reload_reference()
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    explanation = detail(client, me, "s-golden").json()["explanation"]
    gone = explanation[1]
    assert gone["code"] == "XA01ABD075A002010100483" and gone["amount"] == 3690
    assert (gone["selfpay_ratio"], gone["price_cap"]) == (None, None)
    assert Decimal(explanation[3]["selfpay_ratio"]) == Decimal("0.05")


# --------------------------------------------------------------------------- kind "lines"
def ask_lines(net: SmallNetwork, sender: str, sid: str, id_number: str) -> dict[str, Any]:
    """The signed exchange, from ``sender``'s own key, as its home node would ask."""
    body = {"settlement_id": sid, "pseudonym": net.node(sender).pseudonym_of(id_number)}
    return net.network.nodes[sender].exchange.call(SHANGHAI, "lines", body)


def test_the_visit_node_gives_lines_only_to_the_patients_home_with_her_pseudonym(
    client: TestClient, net: SmallNetwork
) -> None:
    answer = settled(client, "s-golden", golden_lines())
    own = ask_lines(net, JINHUA, "s-golden", EMPLOYEE_ID)
    assert own["lines"] == answer["lines"]
    assert set(own["catalogue"]) == {line["code"] for line in answer["lines"]}
    assert ask_lines(net, NANJING, "s-golden", EMPLOYEE_ID) == {"lines": None}
    assert ask_lines(net, JINHUA, "s-golden", RESIDENT_ID) == {"lines": None}
    assert ask_lines(net, JINHUA, "s-never", EMPLOYEE_ID) == {"lines": None}
    no_pseudonym = net.network.nodes[JINHUA].exchange.call(
        SHANGHAI, "lines", {"settlement_id": "s-golden"}
    )
    assert no_pseudonym == {"lines": None}


def test_two_regions_settlements_under_one_id_are_each_explained_with_their_own_lines(
    client: TestClient, net: SmallNetwork
) -> None:
    # Hospitals choose their ids, unique only in their own region.
    net.node(NANJING).load_reference(
        institutions=[(InstitutionRecord(NANJING_HOSPITAL, "江苏省人民医院", 3, True), "key-nj")]
    )
    shanghai = settled(client, "his-0001", golden_lines())
    nj = {"Authorization": "Bearer key-nj"}
    visit = client.post(
        f"/nodes/{NANJING}/v1/visits",
        headers=nj,
        json={"institution_code": NANJING_HOSPITAL, "id_number": EMPLOYEE_ID},
    )
    assert visit.status_code == 201, visit.text
    nanjing = client.post(
        f"/nodes/{NANJING}/v1/settlements",
        headers=nj,
        json={"settlement_id": "his-0001", "visit_id": visit.json()["visit_id"], "lines": BIG_BILL},
    )
    assert nanjing.status_code == 200, nanjing.text
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    listed = [
        (i["visit_region"], i["settlement_id"], i["medfee"])
        for i in client.get(HOME, headers=me).json()
    ]
    assert listed == [(NANJING, "his-0001", 300000), (SHANGHAI, "his-0001", 14251)]
    for region, answer in ((SHANGHAI, shanghai), (NANJING, nanjing.json())):
        explained = detail(client, me, "his-0001", region).json()
        assert explained["lines"] == answer["lines"] and explained["split"] == answer["split"]


# --------------------------------------------------------------------------- a faulty visit node
GARBLED = {
    "a line that is not an object": ["普通门诊诊查费"],
    "a line without its amounts": [{"code": "001102000010000"}],
    "an amount that is not a number": [
        {
            **dict.fromkeys(
                ("amount", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"), 0
            ),
            "code": "001102000010000",
            "inscp_scp_amt": "lots",
        }
    ],
    "an amount in yuan as a float": [
        {
            **dict.fromkeys(("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"), 0),
            "code": "001102000010000",
            "amount": 142.51,
            "inscp_scp_amt": 142.51,
        }
    ],
}


def visit_node_answers(net: SmallNetwork, monkeypatch: pytest.MonkeyPatch, lines: Any) -> None:
    """Shanghai's node answers ``lines`` with these, over the real signed exchange (a faulty or
    other version of a visit node)."""
    monkeypatch.setattr(
        net.network.nodes[SHANGHAI].service,
        "settlement_lines",
        lambda message: {"lines": lines, "catalogue": {}},
    )


@pytest.mark.parametrize("garbled", list(GARBLED))
def test_garbled_lines_from_the_visit_node_leave_the_split_explained_without_lines(
    client: TestClient, net: SmallNetwork, monkeypatch: pytest.MonkeyPatch, garbled: str
) -> None:
    settled(client, "s-golden", golden_lines())
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    visit_node_answers(net, monkeypatch, GARBLED[garbled])
    response = detail(client, me, "s-golden")
    assert response.status_code == 200, response.text  # a peer's answer is no reason for a 500
    assert response.json()["lines"] is None
    assert steps(response.json()["explanation"]) == AFTER_THE_LINES


def test_lines_that_do_not_add_up_to_the_committed_split_are_not_shown(
    client: TestClient, net: SmallNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = settled(client, "s-golden", golden_lines())
    me = resident_auth(net, client.post, EMPLOYEE_ID)
    other_bill = [
        {
            **line,
            "amount": 1,
            "fulamt_ownpay_amt": 1,
            "inscp_scp_amt": 0,
            "overlmt_selfpay": 0,
            "preselfpay_amt": 0,
        }
        for line in answer["lines"]
    ]
    visit_node_answers(net, monkeypatch, other_bill)
    explained = detail(client, me, "s-golden").json()
    assert explained["lines"] is None
    assert steps(explained["explanation"]) == AFTER_THE_LINES
