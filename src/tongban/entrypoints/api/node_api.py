"""A node's HTTP API (``/v1``): hospitals (HIS), residents (resident_api), the signed exchange."""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from tongban.entrypoints.api.auth import parse_bearer
from tongban.entrypoints.api.fhir_api import fhir_router
from tongban.entrypoints.api.national_api import national_router
from tongban.entrypoints.api.operator_api import operator_router, reference_router
from tongban.entrypoints.api.problems import (
    PROBLEM_JSON,
    install_problem_handlers,
    storage_unavailable,
)
from tongban.entrypoints.api.resident_api import resident_router
from tongban.entrypoints.api.schemas import (
    PreviewIn,
    PreviewOut,
    ReconcileDetailIn,
    ReconcileDetailOut,
    ReconcileTotalsIn,
    ReconcileTotalsOut,
    RegisterVisitIn,
    SettleIn,
    SettlementOut,
    VisitOut,
    lines_to_domain,
)
from tongban.entrypoints.observability import (
    NodeMetrics,
    count_exchange,
    directory_health,
    instrument,
    node_metrics,
)
from tongban.errors import Refused, TongbanError
from tongban.service_layer.commands import PreviewBill, RegisterVisit, SettleBill
from tongban.service_layer.national import NationalInterface
from tongban.service_layer.node import NodeService
from tongban.service_layer.operators import OperatorKeys
from tongban.service_layer.records import VisitStatus
from tongban.service_layer.region_view import RegionView
from tongban.service_layer.resident_settlements import ResidentSettlements
from tongban.service_layer.residents import Residents
from tongban.service_layer.views import SettlementView

MAX_EXCHANGE_BYTES = 1_000_000
PROBLEM: dict[str, Any] = {"model": None, "content": {PROBLEM_JSON: {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key", **PROBLEM},
    403: {"description": "acting for another institution", **PROBLEM},
    404: {"description": "unknown visit, settlement or person", **PROBLEM},
    409: {"description": "settlement id reused with different content, or wrong state", **PROBLEM},
    422: {"description": "invalid input or refused by policy (see `code`)", **PROBLEM},
    503: {"description": "a peer region did not answer", **PROBLEM},
}


def _settlement_out(view: SettlementView) -> dict[str, Any]:
    out = asdict(view)
    out["status"] = view.status.value
    return out


def _refusal_status(exc: TongbanError) -> str | None:
    """The status a failed settle leaves its settlement in, for the outcome counter."""
    if exc.code == "SETTLEMENT_VOIDED":
        return "VOIDED"
    if isinstance(exc, Refused):
        return "REFUSED"
    return None  # bad input, unknown visit, ...: counted as refusals only


def create_node_app(
    service: NodeService,
    exchange_handler: Callable[[bytes], bytes],
    metrics: NodeMetrics | None = None,
    *,
    residents: Residents,
    view: RegionView,
    operators: OperatorKeys,
    settlements: ResidentSettlements,
    national: NationalInterface | None = None,
) -> FastAPI:
    """The node's app; ``metrics`` (default: new, for this node) is also served at /metrics;
    ``residents`` serves residents' sign-in and filings, ``view`` the operators' read-only
    routes (for ``operators``' keys) and the published reference data."""
    app = FastAPI(
        title=f"tongban node {service.region}",
        version="1",
        description=(
            "Cross-region direct settlement of medical bills (异地就医直接结算). Money is "
            "integer fen; quantities and ratios are decimal strings. Hospitals authenticate "
            "with their institution's API key (`Authorization: Bearer ...`); residents with "
            "the session token of a sign-in at their home node."
        ),
    )
    install_problem_handlers(app)
    metrics = metrics if metrics is not None else node_metrics(service)
    instrument(app, metrics)
    exchange_handler = count_exchange(metrics, exchange_handler)

    def institution(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        code = service.authenticate(parse_bearer(authorization))
        request.state.institution = code  # for the request's log line
        return code

    Acting = Annotated[str, Depends(institution)]
    his = APIRouter(prefix="/v1", tags=["hospital (HIS)"], responses=ERRORS)

    @his.post("/visits", status_code=201, response_model=VisitOut)
    def register_visit(body: RegisterVisitIn, acting: Acting) -> Any:
        """Register an outpatient visit or an admission (门诊挂号 / 入院登记)."""
        command = RegisterVisit(
            body.institution_code, body.id_number, body.med_type, body.emergency
        )
        return asdict(service.visit.register(command, acting))

    @his.get("/visits/{visit_id}", response_model=VisitOut)
    def get_visit(visit_id: str, acting: Acting) -> Any:
        return asdict(service.visit.visit(visit_id, acting))

    @his.post("/visits/{visit_id}/preview", response_model=PreviewOut)
    def preview(visit_id: str, body: PreviewIn, acting: Acting) -> Any:
        """Pre-settle (预结算): the full split, nothing charged."""
        command = PreviewBill(visit_id, lines_to_domain(body.lines), body.use_account)
        return asdict(service.visit.preview(command, acting))

    @his.post(
        "/settlements",
        response_model=SettlementOut,
        responses={
            202: {"description": "home region did not answer: status UNKNOWN, retry the id"}
        },
    )
    def settle(body: SettleIn, acting: Acting, response: Response) -> Any:
        """Settle (结算), idempotent by `settlement_id`."""
        command = SettleBill(
            body.settlement_id, body.visit_id, lines_to_domain(body.lines), body.use_account
        )
        try:
            view = service.visit.settle(command, acting)
        except TongbanError as exc:
            status = _refusal_status(exc)
            if status:
                metrics.settlement("settle", status)
            raise
        metrics.settlement("settle", view.status.value)
        if view.status in (VisitStatus.UNKNOWN, VisitStatus.PENDING):
            response.status_code = 202
        return _settlement_out(view)

    @his.get("/settlements/{settlement_id}", response_model=SettlementOut)
    def settlement_status(settlement_id: str, acting: Acting) -> Any:
        return _settlement_out(service.visit.status(settlement_id, acting))

    @his.post(
        "/settlements/{settlement_id}/cancel",
        response_model=SettlementOut,
        responses={202: {"description": "cancel recorded, home region did not answer yet"}},
    )
    def cancel(settlement_id: str, acting: Acting, response: Response) -> Any:
        """Cancel a settlement (结算撤销); the home region restores exactly what it took."""
        view = service.visit.cancel(settlement_id, acting)
        metrics.settlement("cancel", view.status.value)
        if view.status is VisitStatus.CANCELLING:
            response.status_code = 202
        return _settlement_out(view)

    @his.post("/reconciliation", response_model=ReconcileTotalsOut)
    def reconcile_totals(body: ReconcileTotalsIn, acting: Acting) -> Any:
        """Daily reconciliation (对账, as national 3201): your totals per insutype for a range
        of days; the node answers `balanced`, its own totals, and what it still waits on."""
        return asdict(service.reconciliation.totals(body.to_command(), acting))

    @his.post("/reconciliation/detail", response_model=ReconcileDetailOut)
    def reconcile_detail(body: ReconcileDetailIn, acting: Acting) -> Any:
        """Detail reconciliation (明细对账, as national 3202): your list of settle and cancel
        events; the node answers each one the two sides disagree on."""
        return asdict(service.reconciliation.detail(body.to_command(), acting))

    if national is not None:
        app.include_router(national_router(service, national, metrics))

    network = APIRouter(prefix="/v1", tags=["network"])

    @network.post("/exchange", response_class=Response)
    async def exchange(request: Request) -> Response:
        """Signed node-to-node messages (quote, commit, cancel, resolve, ...)."""
        payload = await request.body()
        if len(payload) > MAX_EXCHANGE_BYTES:
            payload = b"{}"  # answered as a BAD_ENVELOPE refusal, signed
        answer = await run_in_threadpool(exchange_handler, payload)
        return Response(answer, media_type="application/json")

    @network.get(
        "/health",
        response_model=None,
        responses={503: {"description": "the node's database did not answer", **PROBLEM}},
    )
    def health(request: Request) -> Any:
        """Up, with its database reachable (one small read), and its directory: version,
        expiry, and whether it is current, in its grace period, or expired (then this node
        refuses every other node until the hub hands it a fresh one)."""
        try:
            with service.store.read() as tx:
                stored = tx.meta("directory")
        except SQLAlchemyError:
            return storage_unavailable(request)
        return {
            "status": "ok",
            "region": service.region,
            "database": "ok",
            **directory_health(stored, service.clock()),
        }

    app.include_router(his)
    app.include_router(resident_router(residents, settlements))
    app.include_router(operator_router(view, operators))
    app.include_router(reference_router(view))
    app.include_router(network)
    app.include_router(fhir_router(service, metrics))
    return app
