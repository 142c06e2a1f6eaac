"""FHIR R4 at a node and at the hub (docs/fhir.md), through HTTP on the embedded network.

A hospital registers an Encounter, submits Claims and CoverageEligibilityRequests to Shanghai's
``/fhir``; an operator reads clearing statements as PaymentReconciliation at ``/hub/fhir``.
Every figure is checked against tongban's own REST API for the same bill and against the hand
derivation of DESIGN.md §4 (tests/integration/protocol_checks.py): the golden bill of a Jinhua
employee, unfiled at a level-3 Shanghai hospital, splits 14,251 fen into ownpay 5,800,
overlimit 90, preselfpay 473, covered 7,888, all of it deductible, account 2,000, ratio 0.65.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, snapshot

from fhir_fixtures import (
    FHIR_JSON,
    claim,
    eligibility,
    encounter,
    fen,
    fhir_body,
    item_adjudications,
    outcome_code,
    ratios,
    read,
    totals,
)
from network_fixtures import (
    COMMUNITY,
    DISABLED,
    EMPLOYEE_ID,
    JINHUA,
    KEYS,
    NANJING,
    NANJING_ID,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    UNINSURED_ID,
    SmallNetwork,
    auth,
    golden_lines,
    resident_auth,
)
from tongban.adapters.transport import FaultyTransport
from tongban.domain.clearing import Period
from tongban.entrypoints.api.embedded import create_network_app
from tongban.service_layer.operators import OperatorKeys, new_operator_key

NODE = f"/nodes/{SHANGHAI}"
FHIR = f"{NODE}/fhir"
BIG_ITEMS = [("001102000010000", "70", "25.00")]  # 175,000 fen, all covered, class A
# The golden bill's lines by hand (DESIGN.md §4.1): amount, covered, and the self-paid pieces.
GOLDEN_LINES = [
    {"submitted": 2500, "eligible": 2500, "fulamt_ownpay_amt": 0, "overlmt_selfpay": 0,
     "preselfpay_amt": 0},
    {"submitted": 3690, "eligible": 3240, "fulamt_ownpay_amt": 0, "overlmt_selfpay": 90,
     "preselfpay_amt": 360},
    {"submitted": 5800, "eligible": 0, "fulamt_ownpay_amt": 5800, "overlmt_selfpay": 0,
     "preselfpay_amt": 0},
    {"submitted": 2261, "eligible": 2148, "fulamt_ownpay_amt": 0, "overlmt_selfpay": 0,
     "preselfpay_amt": 113},
]  # fmt: skip


@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network)) as test_client:
        yield test_client


def post(client: TestClient, path: str, resource: dict[str, Any], institution: str = RUIJIN
         ) -> Any:  # fmt: skip
    headers = {**auth(institution), "content-type": FHIR_JSON, "accept": FHIR_JSON}
    return client.post(f"{FHIR}/{path}", content=fhir_body(resource), headers=headers)


def register(client: TestClient, id_number: str = EMPLOYEE_ID, kind: str = "AMB") -> str:
    answer = post(client, "Encounter", encounter(id_number, kind))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def split_of(answer: dict[str, Any]) -> dict[str, int]:
    """tongban's split (fen, without the ratio) plus the copay it implies."""
    split = {k: v for k, v in answer.items() if k != "ratio_applied"}
    return {**split, "copay": split["inscp_scp_amt"] - split["act_pay_dedc"] - split["hifp_pay"]}


def submitted(client: TestClient, visit_id: str, sid: str, **extra: Any) -> dict[str, Any]:
    answer = post(client, "Claim/$submit", claim(visit_id, sid, **extra))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = read(answer)
    ClaimResponse.model_validate(body)
    return body


# --------------------------------------------------------------------------- claims
def test_a_claim_settles_and_its_claim_response_is_tongbans_own_split_to_the_fen(
    client: TestClient, net: SmallNetwork
) -> None:
    before = net.person_state(JINHUA, EMPLOYEE_ID)
    created = post(client, "Encounter", encounter())
    assert created.status_code == 201, created.text
    visit = Encounter.model_validate(created.json())
    assert created.headers["location"].endswith(f"{FHIR}/Encounter/{visit.id}")
    assert visit.subject.identifier.value == "330702********0126"  # masked, never the ID
    assert EMPLOYEE_ID not in created.text
    assert client.get(f"{FHIR}/Encounter/{visit.id}", headers=auth()).json()["id"] == visit.id

    response = submitted(client, str(visit.id), "fhir-golden-1")
    assert (response["status"], response["outcome"], response["use"]) == (
        "active", "complete", "claim")
    assert response["id"] == "fhir-golden-1"
    assert response["insurer"]["identifier"] == {"system": "urn:tongban:region", "value": JINHUA}
    stored = client.get(f"{NODE}/v1/settlements/fhir-golden-1", headers=auth()).json()
    assert stored["status"] == "SETTLED"
    assert totals(response) == split_of(stored["split"]) == split_of(
        {**GOLDEN_SPLIT_EMPLOYEE, "ratio_applied": "0.65"})
    assert item_adjudications(response) == GOLDEN_LINES
    assert ratios(response) == {"eligpercent": Decimal(65), "ratio_applied": Decimal("0.65")}
    assert fen(response["payment"]["amount"]) == stored["split"]["hifp_pay"] + 2000
    # Exactly two decimals on the wire, never a float's digits.
    raw = post(client, "Claim/$submit", claim(str(visit.id), "fhir-golden-1")).text
    assert '"value":142.51,"currency":"CNY"' in raw and '"value":122.51,' in raw
    assert net.person_state(JINHUA, EMPLOYEE_ID) == {
        **before, "deductible_used": 7888, "account_balance": 0}

    read_back = client.get(f"{FHIR}/ClaimResponse/fhir-golden-1", headers=auth())
    assert read_back.status_code == 200, read_back.text
    assert read(read_back) == response


def test_resubmitting_the_same_claim_gives_the_same_response_and_charges_once(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client)
    first = submitted(client, visit_id, "fhir-big-1", items=BIG_ITEMS)
    # 175,000 covered, deductible 150,000; fund round(25,000 × 0.65) = 16,250; copay 8,750.
    assert {k: totals(first)[k] for k in ("act_pay_dedc", "hifp_pay", "copay", "acct_pay")} == {
        "act_pay_dedc": 150000, "hifp_pay": 16250, "copay": 8750, "acct_pay": 2000}
    assert fen(first["payment"]["amount"]) == 18250
    after_first = snapshot(net)

    again = submitted(client, visit_id, "fhir-big-1", items=BIG_ITEMS)
    assert again == first
    assert snapshot(net) == after_first  # no second charge, nothing more stored

    reused = post(client, "Claim/$submit",
                  claim(visit_id, "fhir-big-1", items=[("001102000010000", "69", "25.00")]))
    assert reused.status_code == 409
    assert outcome_code(reused) == "ID_REUSED"
    OperationOutcome.model_validate(reused.json())
    assert snapshot(net) == after_first


def test_a_predetermination_previews_the_split_of_the_rest_api_and_charges_nothing(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client)
    before = snapshot(net)
    preview = submitted(client, visit_id, None, use="predetermination")
    rest = client.post(f"{NODE}/v1/visits/{visit_id}/preview", headers=auth(),
                       json={"lines": golden_lines()})
    assert totals(preview) == split_of(rest.json()["split"])
    assert preview["use"] == "predetermination" and "payment" not in preview
    assert {"url": "urn:tongban:filing", "valueCode": "none"} in preview["extension"]
    assert snapshot(net) == before


def test_a_claim_the_home_region_does_not_answer_is_queued_and_settles_when_resubmitted(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client)
    runtime = net.network.nodes[SHANGHAI]
    faulty = FaultyTransport(runtime.exchange.transport)
    runtime.exchange.transport = faulty
    faulty.drop_request = lambda endpoint, _payload: endpoint == f"inproc://{JINHUA}"

    queued = post(client, "Claim/$submit", claim(visit_id, "fhir-away-1"))
    assert queued.status_code == 202, queued.text
    body = queued.json()
    ClaimResponse.model_validate(body)
    assert body["outcome"] == "queued" and "total" not in body
    assert "same settlement id" in body["disposition"]
    assert {"url": "urn:tongban:settlement-status", "valueCode": "UNKNOWN"} in body["extension"]
    away = post(client, "CoverageEligibilityRequest/$submit", eligibility(EMPLOYEE_ID))
    assert away.status_code == 503 and outcome_code(away) == "PEER_UNREACHABLE"

    faulty.drop_request = None
    settled = submitted(client, visit_id, "fhir-away-1")
    assert totals(settled) == split_of({**GOLDEN_SPLIT_EMPLOYEE, "ratio_applied": "0.65"})


def _with(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``resource`` with one element replaced (or removed, for ``...``)."""
    copy = json.loads(json.dumps(resource, default=str))
    *parents, last = path
    target = copy
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copy


def test_each_invalid_claim_is_refused_with_its_code_as_an_operation_outcome_and_changes_nothing(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client)
    good = claim(visit_id, "fhir-bad-1")
    price = ("item", 1, "unitPrice", "value")
    cases: list[tuple[str, Any, int, str]] = [
        ("not a resource", [1, 2], 422, "INVALID_FHIR_RESOURCE"),
        ("another resource type", {**good, "resourceType": "Patient"}, 422,
         "INVALID_FHIR_RESOURCE"),
        ("no provider", _with(good, ("provider",), ...), 422, "INVALID_FHIR_RESOURCE"),
        ("an element FHIR does not have", {**good, "discount": 1}, 422,
         "INVALID_FHIR_RESOURCE"),
        ("three decimals", _with(good, price, Decimal("12.305")), 422, "INVALID_AMOUNT"),
        ("a negative price", _with(good, price, Decimal("-1.00")), 422, "INVALID_AMOUNT"),
        ("another currency", _with(good, ("item", 1, "unitPrice", "currency"), "USD"), 422,
         "UNSUPPORTED_FHIR_CONTENT"),
        ("a net that is not quantity × price",
         _with(good, ("item", 1, "net"), {"value": Decimal("36.80"), "currency": "CNY"}), 422,
         "AMOUNT_MISMATCH"),
        ("a total that is not the items'", {**good, "total": {"value": Decimal("142.50"),
                                                              "currency": "CNY"}},
         422, "AMOUNT_MISMATCH"),
        ("no settlement id", _with(good, ("identifier",), ...), 422, "UNSUPPORTED_FHIR_CONTENT"),
        ("items out of order", _with(good, ("item", 0, "sequence"), 7), 422,
         "UNSUPPORTED_FHIR_CONTENT"),
        ("a zero quantity", _with(good, ("item", 0, "quantity", "value"), 0), 422,
         "INVALID_LINE"),
        ("another person's visit", claim(visit_id, "fhir-bad-1", id_number=NANJING_ID), 422,
         "PATIENT_MISMATCH"),
        ("an invalid ID number", claim(visit_id, "fhir-bad-1", id_number="330702195803070120"),
         422, "INVALID_ID_NUMBER"),
        ("an unknown visit", claim("no-such-visit", "fhir-bad-1"), 404, "VISIT_NOT_FOUND"),
    ]  # fmt: skip
    before = snapshot(net)
    for name, resource, status, code in cases:
        answer = post(client, "Claim/$submit", resource)
        assert answer.status_code == status, f"{name}: {answer.text}"
        assert outcome_code(answer) == code, f"{name}: {answer.text}"
        OperationOutcome.model_validate(answer.json())
        assert snapshot(net) == before, f"{name} changed what is stored"
    # The guard's refusals come before any route, as problem+json.
    broken = client.post(f"{FHIR}/Claim/$submit", content=b"{", headers={
        **auth(), "content-type": FHIR_JSON})
    assert broken.status_code == 422 and broken.json()["code"] == "MALFORMED_JSON"
    assert submitted(client, visit_id, "fhir-bad-1")["outcome"] == "complete"  # id still free


def test_another_institutions_key_is_forbidden_and_no_key_is_unauthenticated(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client)
    submitted(client, visit_id, "fhir-own-1")
    before = snapshot(net)
    as_ruijin = post(client, "Claim/$submit", claim(visit_id, "fhir-own-2"), institution=COMMUNITY)
    assert as_ruijin.status_code == 403 and outcome_code(as_ruijin) == "INSTITUTION_MISMATCH"
    others_visit = post(client, "Claim/$submit", claim(visit_id, "fhir-own-2", provider=COMMUNITY),
                        institution=COMMUNITY)
    assert others_visit.status_code == 403 and outcome_code(others_visit) == "INSTITUTION_MISMATCH"
    others = {"Authorization": f"Bearer {KEYS[COMMUNITY]}"}
    for path in ("ClaimResponse/fhir-own-1", f"Encounter/{visit_id}"):
        answer = client.get(f"{FHIR}/{path}", headers=others)
        assert answer.status_code == 403 and outcome_code(answer) == "INSTITUTION_MISMATCH"
    nobody = client.post(f"{FHIR}/Claim/$submit", content=fhir_body(claim(visit_id, "x")),
                         headers={"content-type": FHIR_JSON})
    assert nobody.status_code == 401 and outcome_code(nobody) == "UNAUTHENTICATED"
    assert snapshot(net) == before
    metadata = client.get(f"{FHIR}/metadata")  # the one route without a key
    assert metadata.status_code == 200
    statement = CapabilityStatement.model_validate(metadata.json())
    assert statement.fhirVersion == "4.3.0"


def test_an_encounter_class_and_priority_say_inpatient_or_emergency(
    client: TestClient,
) -> None:
    for kind, med_type, emergency in (("IMP", "inpatient", False), ("EMER", "outpatient", True)):
        visit = client.get(f"{NODE}/v1/visits/{register(client, kind=kind)}", headers=auth())
        assert (visit.json()["med_type"], visit.json()["emergency"]) == (med_type, emergency)
    wrong = post(client, "Encounter", encounter(kind="HH"))
    assert wrong.status_code == 422 and outcome_code(wrong) == "UNSUPPORTED_FHIR_CONTENT"


# --------------------------------------------------------------------------- eligibility
def eligible(client: TestClient, id_number: str, institution: str = RUIJIN, **extra: Any
             ) -> dict[str, Any]:  # fmt: skip
    answer = post(client, "CoverageEligibilityRequest/$submit",
                  eligibility(id_number, institution, **extra), institution=institution)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = read(answer)
    CoverageEligibilityResponse.model_validate(body)
    return body


def benefits(response: dict[str, Any]) -> dict[str, tuple[bool, str, str | None]]:
    """med_type -> (excluded, filing category, the fund's ratio)."""
    found = {}
    for item in response["insurance"][0].get("item", []):
        (category,) = item["category"]["coding"]
        (filing,) = item["extension"]
        ratio = item["benefit"][0]["allowedString"] if "benefit" in item else None
        found[category["code"]] = (item["excluded"], filing["valueCode"], ratio)
    return found


def test_eligibility_says_who_is_covered_and_whether_the_visit_is_filed(
    client: TestClient, net: SmallNetwork
) -> None:
    before = snapshot(net)
    employee = eligible(client, EMPLOYEE_ID)
    assert employee["insurance"][0]["inforce"] is True
    assert employee["insurer"]["identifier"]["value"] == JINHUA
    assert employee["patient"]["identifier"]["value"] == "330702********0126"
    assert benefits(employee) == {"outpatient": (False, "none", "0.65"),
                                  "inpatient": (True, "none", None)}  # inpatient needs a filing
    inpatient = employee["insurance"][0]["item"][1]
    assert inpatient["authorizationRequired"] is True

    # The resident's policy refuses unfiled visits; a filing (其他 −0.15) opens them at 0.40.
    resident = eligible(client, RESIDENT_ID, item=[{"category": {"coding": [
        {"system": "urn:tongban:med-type", "code": "outpatient"}]}}])
    assert resident["insurance"][0]["inforce"] is True
    assert benefits(resident) == {"outpatient": (True, "none", None)}
    emergency = eligible(client, RESIDENT_ID, extension=[
        {"url": "urn:tongban:emergency", "valueBoolean": True}])
    assert benefits(emergency)["outpatient"] == (False, "emergency", "0.45")
    assert snapshot(net) == before  # asking changes nothing
    client.post(f"/nodes/{JINHUA}/v1/filings", headers=resident_auth(net, client.post, RESIDENT_ID),
                json={"kind": "other", "target_region": SHANGHAI, "commitment": True})
    filed = eligible(client, RESIDENT_ID)
    assert benefits(filed)["outpatient"] == (False, "other", "0.4")
    assert {"url": "urn:tongban:filing", "valueCode": "other"} in filed["insurance"][0]["extension"]

    nobody = eligible(client, UNINSURED_ID)
    assert nobody["insurance"][0]["inforce"] is False and "item" not in nobody["insurance"][0]
    assert nobody["outcome"] == "complete" and "no member region" in nobody["disposition"]
    disabled = eligible(client, EMPLOYEE_ID, institution=DISABLED)
    assert disabled["insurance"][0]["inforce"] is False
    assert "not enabled" in disabled["disposition"]
    invalid = post(client, "CoverageEligibilityRequest/$submit", eligibility("330702195803070120"))
    assert invalid.status_code == 422 and outcome_code(invalid) == "INVALID_ID_NUMBER"
    assert "330702195803070120" not in invalid.text  # masked in the diagnostics


# --------------------------------------------------------------------------- clearing
def test_a_cleared_period_reads_as_payment_reconciliations_that_add_up_to_the_net_positions(
    client: TestClient, net: SmallNetwork
) -> None:
    paid_by_home = {}
    for sid, id_number in (("fhir-e-1", EMPLOYEE_ID), ("fhir-n-1", NANJING_ID),
                           ("fhir-n-2", NANJING_ID)):
        response = submitted(client, register(client, id_number), sid, id_number=id_number,
                             items=BIG_ITEMS)
        paid_by_home[sid] = fen(response["payment"]["amount"])
    cancelled = client.post(f"{NODE}/v1/settlements/fhir-n-2/cancel", headers=auth())
    assert cancelled.json()["status"] == "CANCELLED"
    period = str(Period.of(datetime.now(UTC)))
    assert net.network.hub.clearing.clear(period).status == "CLOSED"
    key = new_operator_key()
    OperatorKeys(net.network.hub.store.meta, net.network.hub.store.set_meta).add(key)
    operator = {"Authorization": f"Bearer {key}"}
    own = client.get(f"/hub/v1/clearing/periods/{period}", headers=operator).json()

    found = client.get("/hub/fhir/PaymentReconciliation", params={"period": period},
                       headers=operator)
    assert found.status_code == 200, found.text
    bundle = read(found)
    Bundle.model_validate(bundle)
    assert (bundle["type"], bundle["total"]) == ("searchset", 3)
    owed: dict[tuple[str, str], int] = {}
    for entry in bundle["entry"]:
        statement = entry["resource"]
        PaymentReconciliation.model_validate(statement)
        region = statement["requestor"]["identifier"]["value"]
        assert statement["id"] == f"{period}-{region}" and entry["fullUrl"].endswith(
            f"/hub/fhir/PaymentReconciliation/{period}-{region}")
        assert (statement["status"], statement["outcome"]) == ("active", "complete")
        received = paid = 0
        for detail in statement["detail"]:
            payer = detail["submitter"]["identifier"]["value"]
            payee = detail["payee"]["identifier"]["value"]
            owed[(payer, payee)] = fen(detail["amount"])
            received += fen(detail["amount"]) if payee == region else 0
            paid += fen(detail["amount"]) if payer == region else 0
        assert fen(statement["paymentAmount"]) == received - paid == own["positions"][region]
    assert owed == {(o["home_region"], o["visit_region"]): o["amount"]
                    for o in own["obligations"]}
    # What each ClaimResponse said the home region pays; fhir-n-2 settled and cancelled: 0.
    assert paid_by_home["fhir-e-1"] == 16250 + 2000  # fund + account
    assert owed == {(JINHUA, SHANGHAI): paid_by_home["fhir-e-1"],
                    (NANJING, SHANGHAI): paid_by_home["fhir-n-1"]}

    one = client.get(f"/hub/fhir/PaymentReconciliation/{period}-{JINHUA}", headers=operator)
    assert read(one) == next(e["resource"] for e in bundle["entry"]
                             if e["resource"]["id"] == f"{period}-{JINHUA}")
    assert fen(read(one)["paymentAmount"]) < 0  # Jinhua pays
    only = client.get("/hub/fhir/PaymentReconciliation", headers=operator,
                      params={"period": period, "region": SHANGHAI})
    assert [e["resource"]["id"] for e in only.json()["entry"]] == [f"{period}-{SHANGHAI}"]
    for path, status, code in (
        (f"PaymentReconciliation/2001-01-{JINHUA}", 404, "PERIOD_NOT_CLEARED"),
        ("PaymentReconciliation?period=2026-13", 422, "INVALID_PERIOD"),
    ):
        answer = client.get(f"/hub/fhir/{path}", headers=operator)
        assert answer.status_code == status and outcome_code(answer) == code, answer.text
    nobody = client.get(f"/hub/fhir/PaymentReconciliation/{period}-{JINHUA}")
    assert nobody.status_code == 401 and outcome_code(nobody) == "OPERATOR_KEY_REQUIRED"


def test_a_claim_the_home_policy_refuses_is_an_operation_outcome_and_reads_back_as_an_error(
    client: TestClient, net: SmallNetwork
) -> None:
    visit_id = register(client, RESIDENT_ID)
    before = net.person_state(JINHUA, RESIDENT_ID)
    refused = post(client, "Claim/$submit", claim(visit_id, "fhir-unfiled-1",
                                                  id_number=RESIDENT_ID))
    assert refused.status_code == 422 and outcome_code(refused) == "FILING_REQUIRED"
    assert refused.json()["issue"][0]["code"] == "business-rule"
    stored = client.get(f"{FHIR}/ClaimResponse/fhir-unfiled-1", headers=auth())
    assert stored.status_code == 200, stored.text
    body = ClaimResponse.model_validate(stored.json())
    assert body.outcome == "error" and "total" not in stored.json()
    assert body.error[0].code.coding[0].code == "FILING_REQUIRED"
    again = post(client, "Claim/$submit", claim(visit_id, "fhir-unfiled-1", id_number=RESIDENT_ID))
    assert again.status_code == 422 and outcome_code(again) == "FILING_REQUIRED"  # stays refused
    assert net.person_state(JINHUA, RESIDENT_ID) == before
