"""The settlement protocol as a hospital sees it, through the node's HTTP API (DESIGN.md §4.5).

Every test runs on SQLite and on PostgreSQL. Expected splits are worked out by hand from
DESIGN.md §4 with the small network's catalogue and policies (tests/network_fixtures.py):
Jinhua employees (310) at a level-3 Shanghai hospital: deductible 150,000 fen per year,
ratio 0.85, unfiled −0.20; Jinhua residents (390): deductible 20,000, ratio 0.55, other −0.15,
emergency −0.10, unfiled → FILING_REQUIRED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, assert_problem, assert_sides_agree, snapshot

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
from tongban.entrypoints.api.embedded import create_network_app

VISITS = f"/nodes/{SHANGHAI}/v1/visits"
SETTLEMENTS = f"/nodes/{SHANGHAI}/v1/settlements"
FILINGS = f"/nodes/{JINHUA}/v1/filings"

# 70 consultations at 2,500 fen, class A: 175,000 fen, all policy-covered. Big enough to pass
# the employees' 150,000 fen deductible, so a settlement moves all three figures of the state.
BIG_BILL = [{"code": "001102000010000", "quantity": "70", "unit_price": 2500}]
# 10 consultations: 25,000 fen, policy-covered; above the residents' 20,000 fen deductible.
RESIDENT_BILL = [{"code": "001102000010000", "quantity": "10", "unit_price": 2500}]

@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network)) as test_client:
        yield test_client


def register(client: TestClient, id_number: str, emergency: bool = False) -> str:
    response = client.post(
        VISITS,
        json={"institution_code": RUIJIN, "id_number": id_number, "med_type": "outpatient",
              "emergency": emergency},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["visit_id"])


def settle(client: TestClient, sid: str, visit_id: str, lines: list[dict[str, Any]],
           **extra: Any) -> Any:
    body = {"settlement_id": sid, "visit_id": visit_id, "lines": lines, **extra}
    return client.post(SETTLEMENTS, json=body, headers=auth())


def file_filing(client: TestClient, net: SmallNetwork, id_number: str, target: str,
                kind: str = "other") -> str:
    """The resident signs in at home and files (DESIGN.md §4.4)."""
    response = client.post(FILINGS, json={"kind": kind, "target_region": target,
                                          "commitment": True},
                           headers=resident_auth(net, client.post, id_number))
    assert response.status_code == 201, response.text
    return str(response.json()["filing_id"])


def money(split: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in split.items() if k != "ratio_applied"}


def test_preview_settle_status_and_cancel_move_the_home_state_exactly_by_the_split(
    client: TestClient, net: SmallNetwork
) -> None:
    before = net.person_state(JINHUA, EMPLOYEE_ID)
    assert before == {"deductible_used": 0, "fund_paid": 0, "admissions": 0,
                      "account_balance": 2000}
    visit_id = register(client, EMPLOYEE_ID)

    # 175,000 covered, unfiled employee: ratio 0.65; deductible 150,000;
    # hifp = round(25,000 × 0.65) = 16,250; copay 8,750; account min(2,000, 158,750) = 2,000.
    expected = {
        "medfee_sumamt": 175000, "fulamt_ownpay_amt": 0, "overlmt_selfpay": 0,
        "preselfpay_amt": 0, "inscp_scp_amt": 175000, "act_pay_dedc": 150000,
        "hifp_pay": 16250, "acct_pay": 2000, "psn_part_amt": 158750,
        "psn_cash_pay": 156750, "balc": 0,
    }
    preview = client.post(f"{VISITS}/{visit_id}/preview", json={"lines": BIG_BILL},
                          headers=auth())
    assert preview.status_code == 200, preview.text
    assert money(preview.json()["split"]) == expected
    assert net.person_state(JINHUA, EMPLOYEE_ID) == before  # a preview charges nothing

    settled = settle(client, "s-lifecycle-1", visit_id, BIG_BILL)
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "SETTLED"
    split = settled.json()["split"]
    assert money(split) == expected
    assert Decimal(split["ratio_applied"]) == Decimal("0.65")
    assert net.person_state(JINHUA, EMPLOYEE_ID) == {
        "deductible_used": before["deductible_used"] + split["act_pay_dedc"],
        "fund_paid": before["fund_paid"] + split["hifp_pay"],
        "admissions": 0,
        "account_balance": before["account_balance"] - split["acct_pay"],
    }

    status = client.get(f"{SETTLEMENTS}/s-lifecycle-1", headers=auth())
    assert status.status_code == 200
    assert status.json()["status"] == "SETTLED"
    assert status.json()["split"] == split

    cancelled = client.post(f"{SETTLEMENTS}/s-lifecycle-1/cancel", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == before
    assert client.get(f"{SETTLEMENTS}/s-lifecycle-1", headers=auth()).json()["status"] == (
        "CANCELLED")
    assert_sides_agree(net)


def test_the_golden_bill_for_an_unfiled_employee_splits_as_worked_out_by_hand(
    client: TestClient, net: SmallNetwork
) -> None:
    """The arithmetic is written out beside GOLDEN_SPLIT_EMPLOYEE in protocol_checks.py."""
    visit_id = register(client, EMPLOYEE_ID)
    response = settle(client, "s-golden", visit_id, golden_lines())
    assert response.status_code == 200, response.text
    split = response.json()["split"]
    assert money(split) == GOLDEN_SPLIT_EMPLOYEE
    assert Decimal(split["ratio_applied"]) == Decimal("0.65")
    assert net.person_state(JINHUA, EMPLOYEE_ID) == {
        "deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}


def test_a_second_bill_finds_the_deductible_met_and_the_account_empty(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client, EMPLOYEE_ID)
    assert settle(client, "s-first", visit_id, BIG_BILL).status_code == 200
    second = settle(client, "s-second", register(client, EMPLOYEE_ID), golden_lines())
    assert second.status_code == 200, second.text
    # Deductible used 150,000 → remaining 0; hifp = round(7,888 × 0.65 = 5,127.2) = 5,127;
    # the account is empty: acct 0; psn_part = 14,251 − 5,127 = 9,124, all cash.
    assert money(second.json()["split"]) == {
        **GOLDEN_SPLIT_EMPLOYEE, "act_pay_dedc": 0, "hifp_pay": 5127, "acct_pay": 0,
        "psn_part_amt": 9124, "psn_cash_pay": 9124, "balc": 0,
    }
    assert net.person_state(JINHUA, EMPLOYEE_ID) == {
        "deductible_used": 150000, "fund_paid": 16250 + 5127, "admissions": 0,
        "account_balance": 0}
    assert_sides_agree(net)


def test_the_same_settlement_id_with_the_same_content_is_charged_once(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client, EMPLOYEE_ID)
    first = settle(client, "s-twice", visit_id, BIG_BILL)
    assert first.status_code == 200
    after_first = snapshot(net)
    again = settle(client, "s-twice", visit_id, BIG_BILL)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "SETTLED"
    assert again.json()["split"] == first.json()["split"]
    assert snapshot(net) == after_first


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("1", "1.0", id="1-and-1.0"),
        pytest.param("0.5", "0.50", id="0.5-and-0.50"),
        pytest.param("2", "2.000000", id="2-and-2.000000"),
    ],
)
def test_a_quantity_written_differently_is_the_same_content(
    client: TestClient, net: SmallNetwork, first: str, second: str
) -> None:
    visit_id = register(client, EMPLOYEE_ID)
    line = {"code": "001102000010000", "unit_price": 2500}
    original = settle(client, "s-quantity", visit_id, [{**line, "quantity": first}])
    assert original.status_code == 200, original.text
    after_first = snapshot(net)
    retried = settle(client, "s-quantity", visit_id, [{**line, "quantity": second}])
    assert retried.status_code == 200, retried.text
    assert retried.json()["split"] == original.json()["split"]
    assert snapshot(net) == after_first


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"lines": [{"code": "001102000010000", "quantity": "71",
                                 "unit_price": 2500}]}, id="another-quantity"),
        pytest.param({"lines": golden_lines()}, id="other-lines"),
        pytest.param({"use_account": False}, id="without-the-account"),
    ],
)
def test_the_same_settlement_id_with_different_content_is_refused_as_reused(
    client: TestClient, net: SmallNetwork, change: dict[str, Any]
) -> None:
    visit_id = register(client, EMPLOYEE_ID)
    first = settle(client, "s-reused", visit_id, BIG_BILL)
    assert first.status_code == 200
    after_first = snapshot(net)
    body = {"settlement_id": "s-reused", "visit_id": visit_id, "lines": BIG_BILL, **change}
    assert_problem(client.post(SETTLEMENTS, json=body, headers=auth()), 409, "ID_REUSED")
    assert snapshot(net) == after_first
    status = client.get(f"{SETTLEMENTS}/s-reused", headers=auth()).json()
    assert status["status"] == "SETTLED" and status["split"] == first.json()["split"]


def test_the_id_of_a_cancelled_settlement_never_charges_again(
    client: TestClient, net: SmallNetwork
) -> None:
    before = net.person_state(JINHUA, EMPLOYEE_ID)
    visit_id = register(client, EMPLOYEE_ID)
    assert settle(client, "s-cancelled", visit_id, BIG_BILL).status_code == 200
    assert client.post(f"{SETTLEMENTS}/s-cancelled/cancel", headers=auth()).status_code == 200
    retried = settle(client, "s-cancelled", visit_id, BIG_BILL)
    assert retried.status_code == 200
    assert retried.json()["status"] == "CANCELLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == before
    assert_sides_agree(net)


def test_an_unfiled_resident_is_refused_and_the_refusal_sticks_to_its_id(
    client: TestClient, net: SmallNetwork
) -> None:
    before = snapshot(net)
    visit_id = register(client, RESIDENT_ID)
    preview = client.post(f"{VISITS}/{visit_id}/preview", json={"lines": RESIDENT_BILL},
                          headers=auth())
    assert_problem(preview, 422, "FILING_REQUIRED")

    refused = settle(client, "s-resident-1", visit_id, RESIDENT_BILL)
    assert_problem(refused, 422, "FILING_REQUIRED")
    status = client.get(f"{SETTLEMENTS}/s-resident-1", headers=auth()).json()
    assert status["status"] == "REFUSED" and status["error_code"] == "FILING_REQUIRED"
    assert status["split"] is None
    assert net.person_state(JINHUA, RESIDENT_ID) == before["people"]["resident"]
    after_refusal = snapshot(net)

    assert_problem(settle(client, "s-resident-1", visit_id, RESIDENT_BILL), 422,
                   "FILING_REQUIRED")
    assert snapshot(net) == after_refusal

    # She files online with her personal commitment; the refused id stays refused ...
    file_filing(client, net, RESIDENT_ID, SHANGHAI)
    assert_problem(settle(client, "s-resident-1", visit_id, RESIDENT_BILL), 422,
                   "FILING_REQUIRED")
    assert net.person_state(JINHUA, RESIDENT_ID) == before["people"]["resident"]

    # ... and a new id is settled as "other" (临时外出): 0.55 − 0.15 = 0.40.
    # Deductible 20,000 of 25,000 covered; hifp = round(5,000 × 0.40) = 2,000; no account.
    settled = settle(client, "s-resident-2", register(client, RESIDENT_ID), RESIDENT_BILL)
    assert settled.status_code == 200, settled.text
    split = settled.json()["split"]
    assert Decimal(split["ratio_applied"]) == Decimal("0.40")
    assert money(split) == {
        "medfee_sumamt": 25000, "fulamt_ownpay_amt": 0, "overlmt_selfpay": 0,
        "preselfpay_amt": 0, "inscp_scp_amt": 25000, "act_pay_dedc": 20000, "hifp_pay": 2000,
        "acct_pay": 0, "psn_part_amt": 23000, "psn_cash_pay": 23000, "balc": 0,
    }
    assert net.person_state(JINHUA, RESIDENT_ID) == {
        "deductible_used": 20000, "fund_paid": 2000, "admissions": 0, "account_balance": 0}
    assert_sides_agree(net)


def test_an_emergency_visit_of_an_unfiled_resident_is_settled_with_the_emergency_reduction(
    client: TestClient, net: SmallNetwork
) -> None:
    visit = client.post(
        VISITS, json={"institution_code": RUIJIN, "id_number": RESIDENT_ID, "emergency": True},
        headers=auth())
    assert visit.status_code == 201, visit.text
    assert visit.json()["filed"] == ["emergency"]
    response = settle(client, "s-emergency", visit.json()["visit_id"], RESIDENT_BILL)
    assert response.status_code == 200, response.text
    split = response.json()["split"]
    # 0.55 − 0.10 = 0.45; hifp = round(5,000 × 0.45) = 2,250; psn 25,000 − 2,250 = 22,750.
    assert Decimal(split["ratio_applied"]) == Decimal("0.45")
    assert (split["act_pay_dedc"], split["hifp_pay"], split["psn_cash_pay"]) == (
        20000, 2250, 22750)
    assert net.person_state(JINHUA, RESIDENT_ID)["fund_paid"] == 2250


def test_a_revoked_filing_no_longer_covers_a_visit(client: TestClient, net: SmallNetwork) -> None:
    filing_id = file_filing(client, net, RESIDENT_ID, SHANGHAI)
    resident = resident_auth(net, client.post, RESIDENT_ID)
    listed = client.get(FILINGS, headers=resident).json()
    assert [f["filing_id"] for f in listed] == [filing_id]
    assert listed[0]["target_region"] == SHANGHAI and listed[0]["revoked_on"] is None

    assert settle(client, "s-filed", register(client, RESIDENT_ID),
                  RESIDENT_BILL).status_code == 200
    revoked = client.post(f"{FILINGS}/{filing_id}/revoke", headers=resident)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_on"] is not None
    before = snapshot(net)

    visit = client.post(VISITS, json={"institution_code": RUIJIN, "id_number": RESIDENT_ID},
                        headers=auth()).json()
    assert visit["filed"] == []
    assert_problem(settle(client, "s-after-revoke", visit["visit_id"], RESIDENT_BILL), 422,
                   "FILING_REQUIRED")
    people = snapshot(net)["people"]
    assert people == before["people"]
    assert_sides_agree(net)


def test_a_filing_for_a_province_covers_its_cities_and_no_other(
    client: TestClient, net: SmallNetwork
) -> None:
    from tongban.service_layer.records import InstitutionRecord

    nanjing_hospital = "H32010000001"
    net.node("320100").load_reference(
        institutions=[(InstitutionRecord(nanjing_hospital, "江苏省人民医院", 3, True),
                       "key-nanjing-hospital")])
    headers = {"Authorization": "Bearer key-nanjing-hospital"}
    file_filing(client, net, RESIDENT_ID, "320000")  # all of Jiangsu

    # In Nanjing (320100, Jiangsu) the visit is filed: ratio 0.40 as above.
    visit = client.post("/nodes/320100/v1/visits", headers=headers,
                        json={"institution_code": nanjing_hospital, "id_number": RESIDENT_ID})
    assert visit.status_code == 201, visit.text
    assert visit.json()["filed"] == ["other"]
    settled = client.post("/nodes/320100/v1/settlements", headers=headers, json={
        "settlement_id": "s-nanjing", "visit_id": visit.json()["visit_id"],
        "lines": RESIDENT_BILL})
    assert settled.status_code == 200, settled.text
    assert Decimal(settled.json()["split"]["ratio_applied"]) == Decimal("0.40")
    assert settled.json()["split"]["hifp_pay"] == 2000

    # In Shanghai the Jiangsu filing does not count.
    assert_problem(settle(client, "s-shanghai", register(client, RESIDENT_ID), RESIDENT_BILL),
                   422, "FILING_REQUIRED")
    assert net.person_state(JINHUA, RESIDENT_ID)["fund_paid"] == 2000
    assert_sides_agree(net)


def test_a_filing_made_just_after_midnight_in_shanghai_starts_that_day(
    tmp_path: Path, db_url_for: Callable[[str], str] | None
) -> None:
    from datetime import UTC, datetime

    # 2026-03-01 16:30 UTC is 2026-03-02 00:30 in Shanghai (UTC+8).
    moment = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    net = build_small_network(tmp_path, db_url_for=db_url_for, clock=lambda: moment)
    try:
        with TestClient(create_network_app(net.network)) as client:
            response = client.post(FILINGS, json={"kind": "other", "target_region": SHANGHAI,
                                                  "commitment": True},
                                   headers=resident_auth(net, client.post, RESIDENT_ID))
        assert response.status_code == 201, response.text
        # Temporary filings run 6 months by default: 2026-03-02 up to 2026-09-02 (exclusive).
        assert (response.json()["start_date"], response.json()["end_date"]) == (
            "2026-03-02", "2026-09-02")
    finally:
        net.close()
