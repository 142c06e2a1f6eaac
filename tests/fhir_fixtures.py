"""FHIR resources a hospital's FHIR client sends to a node (docs/fhir.md), and readers of the
answers: the small network's people and hospitals (tests/network_fixtures.py) as FHIR.

Amounts go out as JSON numbers in yuan and are read back as Decimal, never float.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from network_fixtures import EMPLOYEE_ID, RUIJIN

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
TONGBAN_ADJUDICATION = "urn:tongban:adjudication"
ERROR_CODE = "urn:tongban:error-code"
FHIR_JSON = "application/fhir+json"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"

# The golden bill (network_fixtures.golden_lines) in yuan: code, quantity, unit price.
GOLDEN_ITEMS = [
    ("001102000010000", "1", "25.00"),
    ("XA01ABD075A002010100483", "3", "12.30"),
    ("ZC01AAA0001000000000001", "1", "58.00"),
    ("XN02BEA005A001010101234", "0.5", "45.21"),
]
# The standard categories of the split (DESIGN.md §4.2 names), and tongban's own.
STANDARD_TOTALS = {"submitted": "medfee_sumamt", "eligible": "inscp_scp_amt",
                   "deductible": "act_pay_dedc", "benefit": "hifp_pay"}  # fmt: skip
TONGBAN_TOTALS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "acct_pay",
                  "psn_part_amt", "psn_cash_pay", "balc")  # fmt: skip


def ref(system: str, value: str) -> dict[str, Any]:
    return {"identifier": {"system": system, "value": value}}


def patient(id_number: str) -> dict[str, Any]:
    return ref("urn:tongban:id-number", id_number)


def institution(code: str) -> dict[str, Any]:
    return ref("urn:tongban:institution-code", code)


def encounter(id_number: str = EMPLOYEE_ID, kind: str = "AMB", provider: str = RUIJIN
              ) -> dict[str, Any]:  # fmt: skip
    return {
        "resourceType": "Encounter",
        "status": "arrived",
        "class": {"system": ACT_CODE, "code": kind},
        "subject": patient(id_number),
        "serviceProvider": institution(provider),
    }


def item(sequence: int, visit_id: str, code: str, quantity: str, unit_price: str,
         net: str | None = None) -> dict[str, Any]:  # fmt: skip
    found: dict[str, Any] = {
        "sequence": sequence,
        "productOrService": {"coding": [{"system": "urn:tongban:catalogue", "code": code}]},
        "quantity": {"value": Decimal(quantity)},
        "unitPrice": {"value": Decimal(unit_price), "currency": "CNY"},
        "encounter": [{"reference": f"Encounter/{visit_id}"}],
    }
    if net is not None:
        found["net"] = {"value": Decimal(net), "currency": "CNY"}
    return found


def claim(visit_id: str, settlement_id: str | None, use: str = "claim",
          id_number: str = EMPLOYEE_ID, provider: str = RUIJIN,
          items: list[tuple[str, str, str]] | None = None, **extra: Any
          ) -> dict[str, Any]:  # fmt: skip
    resource: dict[str, Any] = {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "use": use,
        "patient": patient(id_number),
        "created": "2026-03-10",
        "provider": institution(provider),
        "priority": {"coding": [{"system": PRIORITY, "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "医保"}}],
        "item": [item(i + 1, visit_id, *line) for i, line in enumerate(items or GOLDEN_ITEMS)],
        **extra,
    }
    if settlement_id is not None:
        resource["identifier"] = [{"system": "urn:tongban:settlement-id", "value": settlement_id}]
    return resource


def eligibility(id_number: str, provider: str = RUIJIN, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": patient(id_number),
        "created": "2026-03-10",
        "provider": institution(provider),
        "insurer": {"display": "the person's home region (tongban finds it)"},
        **extra,
    }


def fhir_body(resource: dict[str, Any]) -> bytes:
    """JSON with Decimals as exact numbers (what a FHIR client puts on the wire)."""

    def encode(value: Any) -> str:
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, dict):
            return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ",".join(encode(v) for v in value) + "]"
        return json.dumps(value, ensure_ascii=False)

    return encode(resource).encode()


def read(response: Any) -> Any:
    """An answer's JSON with numbers as Decimal."""
    return json.loads(response.content, parse_float=Decimal)


def fen(money: dict[str, Any]) -> int:
    assert money["currency"] == "CNY", money
    value = Decimal(str(money["value"]))
    assert value == value.quantize(Decimal("0.01")), f"more than two decimals: {value}"
    return int(value * 100)


def _code(adjudication: dict[str, Any]) -> tuple[str, str]:
    (coding,) = adjudication["category"]["coding"]
    return coding["system"], coding["code"]


def totals(response: dict[str, Any]) -> dict[str, int]:
    """ClaimResponse.total as the split's own field names (fen), copay as copay."""
    found = {}
    for total in response["total"]:
        system, code = _code(total)
        name = STANDARD_TOTALS.get(code, code) if system == ADJUDICATION else code
        assert "value" not in total, "money is never in value"
        found[name] = fen(total["amount"])
    return found


def item_adjudications(response: dict[str, Any]) -> list[dict[str, int]]:
    """Per item: category code -> fen."""
    return [
        {_code(a)[1]: fen(a["amount"]) for a in entry["adjudication"]}
        for entry in response["item"]
    ]


def ratios(response: dict[str, Any]) -> dict[str, Decimal]:
    """The header adjudications: plain numbers in ``value``, never an amount."""
    found = {}
    for adjudication in response["adjudication"]:
        assert "amount" not in adjudication
        found[_code(adjudication)[1]] = Decimal(str(adjudication["value"]))
    return found


def outcome_code(response: Any) -> str:
    """tongban's stable code in an OperationOutcome answer (which must be one)."""
    assert response.headers["content-type"] == FHIR_JSON, response.headers
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    (coding,) = body["issue"][0]["details"]["coding"]
    assert coding["system"] == ERROR_CODE
    assert body["issue"][0]["diagnostics"].startswith(coding["code"])
    return str(coding["code"])
