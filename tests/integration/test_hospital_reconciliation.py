"""A hospital's daily reconciliation (对账) with its visit node, over the HTTP API.

Ruijin settles four bills (three for Jiangsu/Zhejiang employees, insutype 310, one for a filed
Jinhua resident, 390) and cancels one. Its own books are what the settle answers told it; the
test keeps them as a hospital's HIS would and adds its totals up itself. Then: correct books
balance, and each kind of wrong book is named settlement by settlement. Reconciling is a read:
no request, good or bad, changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from protocol_checks import assert_problem, snapshot, visit_statuses

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    NANJING_ID,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    golden_lines,
    resident_auth,
)
from tongban.adapters.transport import FaultyTransport
from tongban.bootstrap import utc_now
from tongban.domain.calendar import local_date
from tongban.entrypoints.api.embedded import create_network_app

NODE = f"/nodes/{SHANGHAI}/v1"
TOTALS, DETAIL = f"{NODE}/reconciliation", f"{NODE}/reconciliation/detail"
CONSULT = [{"code": "001102000010000", "quantity": "1", "unit_price": 2500}]
BIG_BILL = [{"code": "001102000010000", "quantity": "70", "unit_price": 2500}]  # 175,000 fen
RESIDENT_BILL = [{"code": "001102000010000", "quantity": "10", "unit_price": 2500}]
AMOUNTS = ("medfee_sumamt", "fund_pay", "acct_pay")


@dataclass
class Hospital:
    client: TestClient
    net: SmallNetwork
    books: list[dict[str, Any]]  # the HIS's own event list, from the settle answers
    first: date
    last: date

    def range(self) -> dict[str, str]:
        return {"from_date": self.first.isoformat(), "to_date": self.last.isoformat()}

    def totals(self, books: list[dict[str, Any]] | None = None, key: str = RUIJIN) -> Any:
        body = {**self.range(), "totals": hospital_totals(self.books if books is None else books)}
        return self.client.post(TOTALS, headers=auth(key), json=body)

    def detail(self, books: list[dict[str, Any]] | None = None, key: str = RUIJIN) -> Any:
        body = {**self.range(), "lines": self.books if books is None else books}
        return self.client.post(DETAIL, headers=auth(key), json=body)


def hospital_totals(books: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the HIS adds up from its own books: per insutype, a cancel subtracts."""
    out: dict[str, dict[str, Any]] = {}
    for line in books:
        row = out.setdefault(
            line["insutype"],
            {
                "insutype": line["insutype"],
                "settle_count": 0,
                "cancel_count": 0,
                **dict.fromkeys(AMOUNTS, 0),
            },
        )
        sign = 1 if line["event"] == "settle" else -1
        row["settle_count" if sign == 1 else "cancel_count"] += 1
        for name in AMOUNTS:
            row[name] += sign * line[name]
    return list(out.values())


def register(client: TestClient, id_number: str) -> dict[str, Any]:
    visit = client.post(
        f"{NODE}/visits", headers=auth(), json={"institution_code": RUIJIN, "id_number": id_number}
    )
    assert visit.status_code == 201, visit.text
    return dict(visit.json())


def settle(
    client: TestClient, sid: str, id_number: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """Settle and return the HIS's book line for it, from the answer."""
    visit = register(client, id_number)
    answer = client.post(
        f"{NODE}/settlements",
        headers=auth(),
        json={"settlement_id": sid, "visit_id": visit["visit_id"], "lines": lines},
    )
    assert answer.status_code == 200, answer.text
    split = answer.json()["split"]
    return {
        "settlement_id": sid,
        "event": "settle",
        "insutype": visit["insutype"],
        "medfee_sumamt": split["medfee_sumamt"],
        "fund_pay": split["hifp_pay"],
        "acct_pay": split["acct_pay"],
    }


@pytest.fixture
def hospital(net: SmallNetwork) -> Iterator[Hospital]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as client:
        filing = client.post(
            f"/nodes/{JINHUA}/v1/filings",
            json={"kind": "long_term_resident", "target_region": SHANGHAI, "commitment": True},
            headers=resident_auth(net, client.post, RESIDENT_ID),
        )
        assert filing.status_code == 201, filing.text
        books = [
            settle(client, "his-001", EMPLOYEE_ID, golden_lines()),
            settle(client, "his-002", EMPLOYEE_ID, BIG_BILL),
            settle(client, "his-003", NANJING_ID, CONSULT),
            settle(client, "his-004", RESIDENT_ID, RESIDENT_BILL),
        ]
        cancelled = client.post(f"{NODE}/settlements/his-002/cancel", headers=auth())
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
        books.append({**books[1], "event": "cancel"})
        # Today in Shanghai, and yesterday in case the test runs across midnight.
        today = local_date(utc_now())
        yield Hospital(client, net, books, today - timedelta(days=1), today)


def without(books: list[dict[str, Any]], sid: str, event: str = "settle") -> list[dict[str, Any]]:
    return [b for b in books if (b["settlement_id"], b["event"]) != (sid, event)]


def test_books_that_match_the_node_balance_in_totals_and_in_detail(hospital: Hospital) -> None:
    before = snapshot(hospital.net)
    totals = hospital.totals()
    assert totals.status_code == 200, totals.text
    answer = totals.json()
    assert answer["balanced"] is True and answer["unresolved"] == []
    assert answer["institution_code"] == RUIJIN
    # 4 settles − 1 cancel; his-002 nets out: 14,251 + 2,500 + 25,000 fen of bills stand.
    assert answer["node"]["count"] == 3
    assert (answer["node"]["settle_count"], answer["node"]["cancel_count"]) == (4, 1)
    assert answer["node"]["medfee_sumamt"] == 14251 + 2500 + 25000
    by_type = {t["insutype"]: t for t in answer["insutypes"]}
    assert by_type["310"]["node"]["count"] == 2 and by_type["390"]["node"]["count"] == 1
    assert by_type["390"]["node"]["medfee_sumamt"] == 25000
    assert all(t["balanced"] and t["node"] == t["hospital"] for t in answer["insutypes"])

    detail = hospital.detail()
    assert detail.status_code == 200, detail.text
    assert detail.json()["balanced"] is True and detail.json()["differences"] == []
    assert detail.json()["matched"] == detail.json()["node_lines"] == 5
    assert snapshot(hospital.net) == before


def test_a_settlement_missing_from_the_hospitals_books_is_named_as_missing_at_the_hospital(
    hospital: Hospital,
) -> None:
    books = without(hospital.books, "his-003")
    totals = hospital.totals(books).json()
    assert totals["balanced"] is False
    assert {t["insutype"]: t["balanced"] for t in totals["insutypes"]} == {
        "310": False,
        "390": True,
    }
    assert totals["node"]["count"] - totals["hospital"]["count"] == 1
    assert totals["node"]["medfee_sumamt"] - totals["hospital"]["medfee_sumamt"] == 2500
    (difference,) = hospital.detail(books).json()["differences"]
    assert difference["settlement_id"] == "his-003" and difference["event"] == "settle"
    assert difference["kind"] == "MISSING_AT_HOSPITAL" and difference["hospital"] is None
    assert difference["node"]["medfee_sumamt"] == 2500 and difference["node"]["insutype"] == "310"


def test_a_forgotten_cancel_is_named_as_that_settlements_cancel(hospital: Hospital) -> None:
    books = without(hospital.books, "his-002", "cancel")
    assert hospital.totals(books).json()["balanced"] is False
    (difference,) = hospital.detail(books).json()["differences"]
    assert (difference["settlement_id"], difference["event"], difference["kind"]) == (
        "his-002",
        "cancel",
        "MISSING_AT_HOSPITAL",
    )


def test_a_settlement_the_node_never_settled_is_named_as_missing_at_the_node(
    hospital: Hospital,
) -> None:
    ghost = {**hospital.books[2], "settlement_id": "his-ghost"}
    books = [*hospital.books, ghost]
    assert hospital.totals(books).json()["balanced"] is False
    (difference,) = hospital.detail(books).json()["differences"]
    assert (difference["settlement_id"], difference["kind"]) == ("his-ghost", "MISSING_AT_NODE")
    assert difference["node"] is None and difference["hospital"]["medfee_sumamt"] == 2500


def test_a_changed_amount_is_named_with_the_field_and_both_figures(hospital: Hospital) -> None:
    books = [dict(b) for b in hospital.books]
    books[0]["acct_pay"] -= 1  # one fen off on the golden bill's personal-account payment
    totals = hospital.totals(books).json()
    assert totals["balanced"] is False
    assert totals["node"]["acct_pay"] - totals["hospital"]["acct_pay"] == 1
    (difference,) = hospital.detail(books).json()["differences"]
    assert (difference["settlement_id"], difference["kind"]) == ("his-001", "DIFFERS")
    assert difference["fields"] == ["acct_pay"]
    assert difference["node"]["acct_pay"] - difference["hospital"]["acct_pay"] == 1


def test_another_institution_sees_none_of_these_settlements(hospital: Hospital) -> None:
    nothing = hospital.totals([], key=COMMUNITY)
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["balanced"] is True and nothing.json()["institution_code"] == COMMUNITY
    assert nothing.json()["node"]["settle_count"] == 0 and nothing.json()["node"]["count"] == 0
    # Ruijin's books sent with the community centre's key: none of them is the centre's.
    kinds = {d["kind"] for d in hospital.detail(key=COMMUNITY).json()["differences"]}
    assert kinds == {"MISSING_AT_NODE"}
    for path, body in ((TOTALS, {"totals": []}), (DETAIL, {"lines": []})):
        for_ruijin = {**hospital.range(), **body, "institution_code": RUIJIN}
        refused = hospital.client.post(path, headers=auth(COMMUNITY), json=for_ruijin)
        assert_problem(refused, 403, "INSTITUTION_MISMATCH")
    assert_problem(
        hospital.client.post(TOTALS, json={**hospital.range(), "totals": []}),
        401,
        "UNAUTHENTICATED",
    )


def bad_requests(h: Hospital) -> list[tuple[str, str, Any, str]]:
    """(what, path, body, code): each is refused with 422 and that code, and changes nothing."""
    day, yesterday = h.last.isoformat(), (h.last - timedelta(days=1)).isoformat()
    line, totals = h.books[0], hospital_totals(h.books)[0]
    span, detail = h.range(), {**h.range(), "lines": h.books}
    # fmt: off
    return [
        ("to_date before from_date", TOTALS,
         {"from_date": day, "to_date": yesterday, "totals": []}, "INVALID_DATE_RANGE"),
        ("32 days", DETAIL, {"from_date": (h.last - timedelta(days=31)).isoformat(),
                             "to_date": day, "lines": []}, "RANGE_TOO_LONG"),
        ("unknown insutype", TOTALS, {**span, "totals": [{**totals, "insutype": "999"}]},
         "UNKNOWN_INSUTYPE"),
        ("unknown insutype in a line", DETAIL, {**detail, "lines": [{**line, "insutype": "311"}]},
         "UNKNOWN_INSUTYPE"),
        ("insutype twice", TOTALS, {**span, "totals": [totals, totals]}, "DUPLICATE_INSUTYPE"),
        ("negative count", TOTALS, {**span, "totals": [{**totals, "settle_count": -1}]},
         "INVALID_COUNT"),
        ("a count as a float", TOTALS, {**span, "totals": [{**totals, "cancel_count": 1.0}]},
         "INVALID_COUNT"),
        ("an amount as a float", TOTALS,
         {**span, "totals": [{**totals, "medfee_sumamt": 142.51}]}, "INVALID_AMOUNT"),
        ("a whole amount written as a float", DETAIL,
         {**detail, "lines": [{**line, "fund_pay": float(line["fund_pay"])}]}, "INVALID_AMOUNT"),
        ("an amount as yuan text", DETAIL, {**detail, "lines": [{**line, "acct_pay": "20.00"}]},
         "INVALID_AMOUNT"),
        ("a negative amount in a line", DETAIL,
         {**detail, "lines": [{**line, "medfee_sumamt": -14251}]}, "INVALID_AMOUNT"),
        ("an unknown event", DETAIL, {**detail, "lines": [{**line, "event": "refund"}]},
         "INVALID_EVENT"),
        ("one settlement's settle listed twice", DETAIL,
         {**detail, "lines": [*h.books, h.books[3]]}, "DUPLICATE_SETTLEMENT"),
        ("an unknown field", TOTALS, {**span, "totals": [], "shift": "night"}, "INVALID_REQUEST"),
        ("a date that is not a date", TOTALS, {**span, "from_date": "2026-02-30", "totals": []},
         "INVALID_REQUEST"),
        ("malformed JSON", DETAIL, b'{"from_date": "2026-', "MALFORMED_JSON"),
    ]
    # fmt: on


def test_bad_input_gets_a_stable_code_and_changes_nothing(hospital: Hospital) -> None:
    before, statuses = snapshot(hospital.net), visit_statuses(hospital.net, SHANGHAI)
    for what, path, body, code in bad_requests(hospital):
        if isinstance(body, bytes):
            response = hospital.client.post(
                path, headers={**auth(), "content-type": "application/json"}, content=body
            )
        else:
            response = hospital.client.post(path, headers=auth(), json=body)
        assert response.status_code == 422, (what, response.text)
        assert response.json()["code"] == code, (what, response.json())
    assert snapshot(hospital.net) == before
    assert visit_statuses(hospital.net, SHANGHAI) == statuses
    assert hospital.totals().json()["balanced"] is True


def test_more_than_a_hundred_thousand_lines_are_refused_as_too_many(hospital: Hospital) -> None:
    line = hospital.books[0]
    lines = [{**line, "settlement_id": f"x{i}"} for i in range(100_001)]
    before = snapshot(hospital.net)
    response = hospital.client.post(
        DETAIL, headers=auth(), json={**hospital.range(), "lines": lines}
    )
    assert_problem(response, 422, "TOO_MANY_LINES")
    assert snapshot(hospital.net) == before


def test_a_settlement_the_node_still_waits_on_is_listed_as_unresolved_not_counted(
    hospital: Hospital,
) -> None:
    runtime = hospital.net.network.nodes[SHANGHAI]
    faults = FaultyTransport(runtime.exchange.transport)
    runtime.exchange.transport = faults
    faults.drop_answer = lambda endpoint, payload: json.loads(payload)["kind"] == "commit"
    visit = register(hospital.client, NANJING_ID)
    lost = hospital.client.post(
        f"{NODE}/settlements",
        headers=auth(),
        json={"settlement_id": "his-005", "visit_id": visit["visit_id"], "lines": CONSULT},
    )
    assert lost.status_code == 202 and lost.json()["status"] == "UNKNOWN"
    # The hospital was told UNKNOWN: its books leave his-005 out, and they still balance.
    answer = hospital.totals().json()
    assert answer["balanced"] is True
    assert answer["unresolved"] == [
        {"settlement_id": "his-005", "event": "settle", "insutype": "310", "medfee_sumamt": 2500}
    ]
    # A hospital that booked it anyway is told the node is waiting, not that it is missing.
    booked = {**hospital.books[2], "settlement_id": "his-005"}
    (difference,) = hospital.detail([*hospital.books, booked]).json()["differences"]
    assert (difference["settlement_id"], difference["kind"]) == ("his-005", "UNRESOLVED_AT_NODE")

    # A cancel whose answer is lost too: the settle stands, the cancel waits.
    faults.drop_answer = None
    faults.drop_request = lambda endpoint, payload: json.loads(payload)["kind"] == "cancel"
    waiting = hospital.client.post(f"{NODE}/settlements/his-003/cancel", headers=auth())
    assert waiting.status_code == 202 and waiting.json()["status"] == "CANCELLING"
    answer = hospital.totals().json()
    assert answer["balanced"] is True
    assert [(u["settlement_id"], u["event"]) for u in answer["unresolved"]] == [
        ("his-003", "cancel"),
        ("his-005", "settle"),
    ]

    # Recovery settles both with the home: now they count, and the books must hold them.
    faults.drop_request = None
    hospital.net.network.recover_all()
    assert hospital.totals().json()["balanced"] is False
    split = hospital.client.get(f"{NODE}/settlements/his-005", headers=auth()).json()["split"]
    settled = {
        **booked,
        "medfee_sumamt": split["medfee_sumamt"],
        "fund_pay": split["hifp_pay"],
        "acct_pay": split["acct_pay"],
    }
    books = [*hospital.books, settled, {**hospital.books[2], "event": "cancel"}]
    answer = hospital.totals(books).json()
    assert answer["balanced"] is True and answer["unresolved"] == []
    assert hospital.detail(books).json()["balanced"] is True
