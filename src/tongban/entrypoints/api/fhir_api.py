"""A node's FHIR R4 endpoints (``/fhir``) for hospitals: Encounter (a visit), Claim/$submit
(preview or settle, answered with a ClaimResponse), ClaimResponse (a settlement) and
CoverageEligibilityRequest/$submit. The same services and rules as ``/v1``; docs/fhir.md.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from tongban.entrypoints.api.auth import parse_bearer
from tongban.entrypoints.api.fhir_claims import (
    claim_submission,
    preview_response,
    settlement_response,
)
from tongban.entrypoints.api.fhir_routes import (
    FhirResponse,
    FhirRoute,
    capability_statement,
    fhir_body,
    fhir_errors,
    fhir_ok,
)
from tongban.entrypoints.api.fhir_visits import (
    eligibility_request,
    eligibility_response,
    encounter_of,
    encounter_registration,
)
from tongban.entrypoints.api.fhir_wire import read_json
from tongban.entrypoints.observability import NodeMetrics
from tongban.errors import Refused, TongbanError
from tongban.service_layer.claims import Claims
from tongban.service_layer.commands import PreviewBill, SettleBill
from tongban.service_layer.eligibility import Eligibility
from tongban.service_layer.node import NodeService
from tongban.service_layer.records import VisitStatus

ERRORS = fhir_errors(
    e401="missing or unknown API key",
    e403="acting for another institution",
    e404="unknown visit or settlement",
    e409="settlement id reused with different content, or wrong state",
    e422="not a valid FHIR resource, not one tongban can take, or refused (see the code)",
    e503="the home region did not answer",
)
SUBMIT_OPERATION = "http://hl7.org/fhir/OperationDefinition/Claim-submit"
ELIGIBILITY_OPERATION = "urn:tongban:OperationDefinition:CoverageEligibilityRequest-submit"
RESOURCES = [
    {"type": "Encounter", "interaction": [{"code": "create"}, {"code": "read"}]},
    {"type": "Claim", "operation": [{"name": "submit", "definition": SUBMIT_OPERATION}]},
    {"type": "ClaimResponse", "interaction": [{"code": "read"}]},
    {
        "type": "CoverageEligibilityRequest",
        "operation": [{"name": "submit", "definition": ELIGIBILITY_OPERATION}],
    },
]


async def raw_body(request: Request) -> bytes:
    """The body as sent: read here, with its numbers as Decimal (fhir_wire.read_json)."""
    return await request.body()


def fhir_router(service: NodeService, metrics: NodeMetrics) -> APIRouter:
    claims = Claims(service.visit, service.store, service.pseudonym_of, service.clock)
    eligibility = Eligibility(
        service.region,
        service.caller,
        service.pseudonym_of,
        service.visit.locate,
        service.visit.ask_home,
        service.visit.institution,
        service.clock,
    )

    def institution(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        code = service.authenticate(parse_bearer(authorization))
        request.state.institution = code  # for the request's log line
        return code

    Acting = Annotated[str, Depends(institution)]
    Body = Annotated[bytes, Depends(raw_body)]
    router = APIRouter(prefix="/fhir", tags=["FHIR R4"], route_class=FhirRoute)

    @router.get(
        "/metadata",
        response_class=FhirResponse,
        responses=fhir_ok(200, "the node's CapabilityStatement", "CapabilityStatement"),
    )
    def metadata() -> Any:
        """What this node serves in FHIR R4 (R4B models, fhirVersion 4.3.0). No key needed."""
        return FhirResponse(capability_statement(f"tongban node {service.region}", RESOURCES))

    @router.post(
        "/Encounter",
        status_code=201,
        response_class=FhirResponse,
        openapi_extra=fhir_body("Encounter", "class AMB / IMP / EMER, subject by ID number"),
        responses={**fhir_ok(201, "the visit, registered", "Encounter"), **ERRORS},
    )
    def create_encounter(request: Request, body: Body, acting: Acting) -> Any:
        """Register a visit (门诊挂号 / 入院) from an Encounter; answered with it (id = visit)."""
        command = encounter_registration(read_json(body), acting)
        visit = service.visit.register(command, acting)
        location = str(request.url_for("read_encounter", visit_id=visit.visit_id))
        return FhirResponse(encounter_of(visit), status_code=201, headers={"Location": location})

    @router.get(
        "/Encounter/{visit_id}",
        response_class=FhirResponse,
        responses={**fhir_ok(200, "the visit", "Encounter"), **ERRORS},
    )
    def read_encounter(visit_id: str, acting: Acting) -> Any:
        return FhirResponse(encounter_of(service.visit.visit(visit_id, acting)))

    @router.post(
        "/Claim/$submit",
        response_class=FhirResponse,
        openapi_extra=fhir_body(
            "Claim",
            "use claim settles (identifier = settlement id), "
            "predetermination / preauthorization previews",
        ),
        responses={
            **fhir_ok(200, "adjudicated: the split as a ClaimResponse", "ClaimResponse"),
            **fhir_ok(
                202,
                "queued: the home region did not answer; resubmit the same Claim",
                "ClaimResponse",
            ),
            **ERRORS,
        },
    )
    def submit_claim(body: Body, acting: Acting) -> Any:
        """Adjudicate a Claim: settle (结算, idempotent by settlement id) or preview (预结算)."""
        asked = claim_submission(read_json(body), acting)
        if not asked.settles:
            command = PreviewBill(asked.visit_id, asked.lines, asked.use_account)
            preview = claims.preview(command, asked.id_number, acting)
            visit = service.visit.visit(asked.visit_id, acting)
            return FhirResponse(preview_response(preview, visit, asked, service.clock()))
        assert asked.settlement_id is not None
        settle = SettleBill(asked.settlement_id, asked.visit_id, asked.lines, asked.use_account)
        try:
            view = claims.settle(settle, asked.id_number, acting)
        except TongbanError as exc:  # counted as /v1/settlements counts them
            if exc.code == "SETTLEMENT_VOIDED":
                metrics.settlement("settle", "VOIDED")
            elif isinstance(exc, Refused):
                metrics.settlement("settle", "REFUSED")
            raise
        metrics.settlement("settle", view.status.value)
        visit = service.visit.visit(view.visit_id, acting)
        queued = view.status in (VisitStatus.PENDING, VisitStatus.UNKNOWN)
        return FhirResponse(settlement_response(view, visit), status_code=202 if queued else 200)

    @router.get(
        "/ClaimResponse/{settlement_id}",
        response_class=FhirResponse,
        responses={**fhir_ok(200, "a settlement, as it stands", "ClaimResponse"), **ERRORS},
    )
    def read_claim_response(settlement_id: str, acting: Acting) -> Any:
        """One of your settlements by its settlement id, in whatever state it is."""
        view, visit = claims.settlement(settlement_id, acting)
        return FhirResponse(settlement_response(view, visit))

    @router.post(
        "/CoverageEligibilityRequest/$submit",
        response_class=FhirResponse,
        openapi_extra=fhir_body("CoverageEligibilityRequest", "patient by ID number"),
        responses={
            **fhir_ok(
                200, "covered or not, and whether a filing is needed", "CoverageEligibilityResponse"
            ),
            **ERRORS,
        },
    )
    def submit_eligibility(body: Body, acting: Acting) -> Any:
        """Is this person covered for direct settlement here, and is the visit filed (备案)?"""
        asked = eligibility_request(read_json(body), acting)
        coverage = eligibility.check(asked.command, acting)
        return FhirResponse(eligibility_response(coverage, asked, acting, service.clock()))

    return router
