"""A region's signed clearing statement (清算单) as a FHIR PaymentReconciliation, at the hub
(``/fhir/PaymentReconciliation``, operator key). See docs/fhir.md.

paymentAmount is the region's net position for the period: positive, the region receives;
negative, it pays. Each detail is one obligation of a home region to a visit region (the
statement's lines, then the earlier exceptions cleared now): submitter = the home region that
pays, payee = the visit region paid, amount = fund + personal account (negative when its
cancels outweigh its settlements). So paymentAmount = Σ amounts with the region as payee −
Σ amounts with it as submitter. Exceptions held out are listed as process notes.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation

from tongban.domain.calendar import local_date
from tongban.domain.clearing import Period
from tongban.entrypoints.api.auth import require_operator
from tongban.entrypoints.api.fhir_routes import (
    FhirResponse,
    FhirRoute,
    capability_statement,
    fhir_errors,
    fhir_ok,
)
from tongban.entrypoints.api.fhir_wire import (
    EXT_SIGNATURE,
    HUB,
    PAYMENT_TYPE,
    STATEMENT,
    STATEMENT_DIGEST,
    checked,
    concept,
    money,
    region_ref,
)
from tongban.errors import InvalidInput, NotFound
from tongban.service_layer.clearing import ClearingHub
from tongban.service_layer.operators import OperatorKeys

_ID = re.compile(r"([0-9]{4}-[0-9]{2})-([0-9]{6})")  # PERIOD-REGION, e.g. 2026-11-330700
_REGION = re.compile(r"[0-9]{6}")
HUB_REF = {
    "type": "Organization",
    "identifier": {"system": HUB, "value": "hub"},
    "display": "长三角 network hub",
}
RESOURCE = {
    "type": "PaymentReconciliation",
    "interaction": [{"code": "read"}, {"code": "search-type"}],
    "searchParam": [{"name": "period", "type": "token"}, {"name": "region", "type": "token"}],
}
ERRORS = fhir_errors(
    e401="no operator key, or one the hub does not accept",
    e404="no such statement, or its period is not cleared",
    e422="a period that is not YYYY-MM, or a region that is not 6 digits",
)


def payment_reconciliation(stored: dict[str, Any], period: Any) -> dict[str, Any]:
    """One stored statement (body, digest, signature, status) of a cleared period."""
    body = json.loads(stored["body"])
    region = body["region"]
    closed = period.status == "CLOSED"
    when = period.closed_at if closed else period.cleared_at
    details = [_detail(line["home_region"], region, line["amount"]) for line in body["as_visit"]]
    details += [_detail(region, line["visit_region"], line["amount"]) for line in body["as_home"]]
    details += [
        _detail(c["home_region"], c["visit_region"], c["amount"], c["settlement_id"])
        for c in body["carried"]
    ]
    notes = [
        {
            "type": "display",
            "text": f"held out: {x['event']} {x['settlement_id']} of "
            f"{x['visit_region']} ({x['kind']}), cleared when resolved",
        }
        for x in body["exceptions"]
    ]
    window = body["window"]
    resource: dict[str, Any] = {
        "resourceType": "PaymentReconciliation",
        "id": f"{body['period']}-{region}",
        "extension": [{"url": EXT_SIGNATURE, "valueString": stored["signature"]}],
        "identifier": [
            {"system": STATEMENT, "value": f"{body['period']}/{region}"},
            {"system": STATEMENT_DIGEST, "value": stored["digest"]},
        ],
        # Draft until every region confirmed and the period closed: no money has moved yet.
        "status": "active" if closed else "draft",
        "period": {**({"start": window["from"]} if window["from"] else {}), "end": window["to"]},
        "created": body["issued_at"],
        "paymentIssuer": HUB_REF,
        "requestor": region_ref(region),
        "outcome": "complete" if closed else "queued",
        "disposition": (
            f"period {body['period']} closed: reserves moved by the net"
            if closed
            else f"statement {stored['status']}: the period closes once every region confirms"
        ),
        "paymentDate": local_date(when).isoformat(),
        "paymentAmount": money(int(body["net"])),
        "detail": details,
    }
    if notes:
        resource["processNote"] = notes
    return checked(PaymentReconciliation, resource)


def _detail(
    payer: str, payee: str, amount: int, settlement_id: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": concept(PAYMENT_TYPE, "adjustment" if settlement_id else "payment"),
        "submitter": region_ref(payer),
        "payee": region_ref(payee),
        "amount": money(int(amount)),
    }
    if settlement_id:  # an earlier period's exception, resolved and cleared in this one
        found["identifier"] = {"system": "urn:tongban:settlement-id", "value": settlement_id}
    return found


def fhir_hub_router(clearing: ClearingHub, operators: OperatorKeys) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR R4 (operators)"], route_class=FhirRoute)
    guarded = [require_operator(operators)]

    @router.get(
        "/metadata",
        response_class=FhirResponse,
        responses=fhir_ok(200, "the hub's CapabilityStatement", "CapabilityStatement"),
    )
    def metadata() -> Any:
        """What the hub serves in FHIR: clearing statements as PaymentReconciliation."""
        return FhirResponse(capability_statement("tongban hub", [RESOURCE]))

    @router.get(
        "/PaymentReconciliation/{statement_id}",
        response_class=FhirResponse,
        dependencies=guarded,
        responses={**fhir_ok(200, "the statement", "PaymentReconciliation"), **ERRORS},
    )
    def read_statement(statement_id: str) -> Any:
        """A region's statement of a period, id PERIOD-REGION (e.g. 2026-11-330700)."""
        found = _ID.fullmatch(statement_id)
        if found is None:
            raise NotFound("STATEMENT_NOT_FOUND", "a statement's id is PERIOD-REGION")
        period, region = str(Period.parse(found.group(1))), found.group(2)
        if clearing.store.period(period) is None:
            raise NotFound("PERIOD_NOT_CLEARED", f"{period} has not been cleared")
        resources = _statements(clearing, period, region)
        if not resources:
            raise NotFound("STATEMENT_NOT_FOUND", f"no statement of {region} for {period}")
        return FhirResponse(resources[0])

    @router.get(
        "/PaymentReconciliation",
        response_class=FhirResponse,
        dependencies=guarded,
        responses={**fhir_ok(200, "a searchset Bundle of statements", "Bundle"), **ERRORS},
    )
    def search_statements(
        request: Request,
        period: Annotated[str, Query(description="YYYY-MM, e.g. 2026-11")],
        region: Annotated[str | None, Query(description="6 digits, e.g. 330700")] = None,
    ) -> Any:
        """The statements of a cleared period, every region's or one region's."""
        p = str(Period.parse(period))
        if region is not None and not _REGION.fullmatch(region):
            raise InvalidInput("INVALID_REGION", "a region code is 6 digits, e.g. 330700")
        base = str(request.url_for("search_statements"))
        found = _statements(clearing, p, region) if clearing.store.period(p) else []
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {"fullUrl": f"{base}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                for r in found
            ],
        }
        return FhirResponse(checked(Bundle, bundle))

    return router


def _statements(clearing: ClearingHub, period: str, region: str | None) -> list[dict[str, Any]]:
    record = clearing.store.period(period)
    if record is None:
        return []
    return [
        payment_reconciliation(s, record)
        for s in clearing.store.statements(period)
        if region is None or s["region"] == region
    ]
