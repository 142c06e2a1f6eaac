"""A real FHIR client (fhirpy) against a running server over real HTTP (docs/fhir.md).

The small network (tests/network_fixtures.py) is served by uvicorn on a free 127.0.0.1 port, in
the embedded network's URL layout. A hospital's FHIR client registers an Encounter, submits the
golden bill as a Claim, reads the ClaimResponse back and asks for eligibility; an operator's
client closes nothing itself but reads the month's clearing statements as PaymentReconciliation
after the hub cleared it. Every answer is validated with the fhir.resources R4B models, and the
amounts are compared with what the node's own REST API says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome

from fhir_fixtures import claim, eligibility, encounter, totals
from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    KEYS,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    build_small_network,
    live_server,
)
from tongban.domain.clearing import Period
from tongban.entrypoints.api.embedded import create_network_app
from tongban.service_layer.operators import OperatorKeys, new_operator_key


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SmallNetwork, str]]:
    net = build_small_network(tmp_path)
    try:
        with live_server(create_network_app(net.network)) as base:
            yield net, base
    finally:
        net.close()


def as_json(resource: dict[str, Any]) -> dict[str, Any]:
    """What a FHIR client's user writes: numbers as JSON numbers (no Decimal in requests)."""
    if isinstance(resource, dict):
        return {k: as_json(v) for k, v in resource.items()}
    if isinstance(resource, list):
        return [as_json(v) for v in resource]
    if isinstance(resource, Decimal):
        return float(resource) if resource != resource.to_integral_value() else int(resource)
    return resource


def test_a_fhirpy_client_settles_a_claim_whose_response_is_the_nodes_own_split(
    served: tuple[SmallNetwork, str],
) -> None:
    net, base = served
    fhir = SyncFHIRClient(f"{base}/nodes/{SHANGHAI}/fhir", authorization=f"Bearer {KEYS[RUIJIN]}")
    CapabilityStatement.model_validate(fhir.execute("metadata", method="get"))

    visit = fhir.resource("Encounter", **as_json(encounter()))
    visit.save()
    Encounter.model_validate(visit.serialize())
    assert visit.id and visit["subject"]["identifier"]["value"] == "330702********0126"
    assert fhir.get("Encounter", visit.id)["id"] == visit.id

    answer = fhir.execute("Claim/$submit", method="post",
                          data=as_json(claim(visit.id, "fhirpy-1")))
    response = ClaimResponse.model_validate(answer)
    assert (response.outcome, response.id) == ("complete", "fhirpy-1")
    own = httpx.get(f"{base}/nodes/{SHANGHAI}/v1/settlements/fhirpy-1",
                    headers={"Authorization": f"Bearer {KEYS[RUIJIN]}"}).json()
    split = {k: v for k, v in own["split"].items() if k != "ratio_applied"}
    copay = split["inscp_scp_amt"] - split["act_pay_dedc"] - split["hifp_pay"]
    assert totals(answer) == {**split, "copay": copay}
    assert split["medfee_sumamt"] == 14251 and split["acct_pay"] == 2000
    assert fhir.get("ClaimResponse", "fhirpy-1") == answer
    assert fhir.execute("Claim/$submit", method="post",
                        data=as_json(claim(visit.id, "fhirpy-1"))) == answer  # charged once
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 0

    covered = CoverageEligibilityResponse.model_validate(
        fhir.execute("CoverageEligibilityRequest/$submit", method="post",
                     data=as_json(eligibility(EMPLOYEE_ID))))
    assert covered.insurance[0].inforce is True

    with pytest.raises(OperationOutcome) as refused:
        fhir.execute("Claim/$submit", method="post", data=as_json(
            claim(visit.id, "fhirpy-2", items=[("001102000010000", "1", "25.001")])))
    (issue,) = refused.value.resource["issue"]
    assert issue["details"]["coding"][0]["code"] == "INVALID_AMOUNT"
    other = SyncFHIRClient(f"{base}/nodes/{SHANGHAI}/fhir",
                           authorization=f"Bearer {KEYS[COMMUNITY]}")
    with pytest.raises(ForbiddenError):
        other.get("ClaimResponse", "fhirpy-1")


def test_a_fhirpy_client_reads_the_months_clearing_statements(
    served: tuple[SmallNetwork, str],
) -> None:
    net, base = served
    fhir = SyncFHIRClient(f"{base}/nodes/{SHANGHAI}/fhir", authorization=f"Bearer {KEYS[RUIJIN]}")
    visit = fhir.resource("Encounter", **as_json(encounter()))
    visit.save()
    answer = fhir.execute("Claim/$submit", method="post",
                          data=as_json(claim(visit.id, "fhirpy-c-1")))
    period = str(Period.of(datetime.now(UTC)))
    assert net.network.hub.clearing.clear(period).status == "CLOSED"
    key = new_operator_key()
    OperatorKeys(net.network.hub.store.meta, net.network.hub.store.set_meta).add(key)
    hub = SyncFHIRClient(f"{base}/hub/fhir", authorization=f"Bearer {key}")

    found = hub.resources("PaymentReconciliation").search(period=period).fetch()
    assert len(found) == 3
    for statement in found:
        PaymentReconciliation.model_validate(statement.serialize())
    jinhua = hub.get("PaymentReconciliation", f"{period}-{JINHUA}")
    paid = Decimal(str(answer["payment"]["amount"]["value"]))
    assert Decimal(str(jinhua["paymentAmount"]["value"])) == -paid  # Jinhua pays what it owed
    Bundle.model_validate(hub.execute("PaymentReconciliation", method="get",
                                      params={"period": period}))
