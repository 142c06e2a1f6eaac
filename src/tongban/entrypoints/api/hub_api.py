"""The hub's HTTP API: the signed directory (public) and the signed exchange (members)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from tongban.entrypoints.api.clearing_api import clearing_router
from tongban.entrypoints.api.fhir_clearing import fhir_hub_router
from tongban.entrypoints.api.problems import (
    PROBLEM_JSON,
    install_problem_handlers,
    storage_unavailable,
)
from tongban.entrypoints.observability import (
    Metrics,
    count_exchange,
    instrument,
    stored_directory_version,
)
from tongban.service_layer.clearing import ClearingHub
from tongban.service_layer.hub import Hub
from tongban.service_layer.operators import OperatorKeys

HUB_METRICS_REGION = "hub"  # the `region` label of the hub's metrics


def create_hub_app(
    hub: Hub,
    exchange_handler: Callable[[bytes], bytes],
    metrics: Metrics | None = None,
    *,
    clearing: ClearingHub,
    operators: OperatorKeys,
) -> FastAPI:
    """The hub's app; ``metrics`` (default: new, for the hub) is also served at /metrics;
    ``clearing`` is read by ``operators`` at /v1/clearing."""
    app = FastAPI(
        title="tongban hub",
        version="1",
        description=(
            "Directory, person locator and monthly clearing (清算) of the YRD network (长三角). "
            "Clearing routes take an operator key (`Authorization: Bearer tbo_...`)."
        ),
    )
    install_problem_handlers(app)
    metrics = metrics if metrics is not None else Metrics(HUB_METRICS_REGION)
    instrument(app, metrics)
    exchange_handler = count_exchange(metrics, exchange_handler)

    @app.get("/v1/directory", tags=["network"])
    def directory() -> dict[str, Any]:
        """The member directory, signed by the hub (Ed25519 over its canonical JSON)."""
        return hub.signed_directory()

    @app.post("/v1/exchange", tags=["network"], response_class=Response)
    async def exchange(request: Request) -> Response:
        answer = await run_in_threadpool(exchange_handler, await request.body())
        return Response(answer, media_type="application/json")

    @app.get(
        "/v1/health",
        tags=["network"],
        response_model=None,
        responses={
            503: {
                "description": "the hub's database did not answer",
                "content": {PROBLEM_JSON: {}},
            }
        },
    )
    def health(request: Request) -> Any:
        """Up, with its database reachable (one small read) and the directory version."""
        try:
            stored = hub.store.meta("directory")
        except SQLAlchemyError:
            return storage_unavailable(request)
        return {
            "status": "ok",
            "role": "hub",
            "database": "ok",
            "directory_version": stored_directory_version(stored),
        }

    app.include_router(clearing_router(clearing, operators))
    app.include_router(fhir_hub_router(clearing, operators))
    return app
