"""The hub's HTTP API: the signed directory (public) and the signed exchange (members)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from tongban.entrypoints.api.problems import install_problem_handlers
from tongban.service_layer.hub import Hub


def create_hub_app(hub: Hub, exchange_handler: Callable[[bytes], bytes]) -> FastAPI:
    app = FastAPI(
        title="tongban hub",
        version="1",
        description="Directory and person locator of the YRD network (长三角).",
    )
    install_problem_handlers(app)

    @app.get("/v1/directory", tags=["network"])
    def directory() -> dict[str, Any]:
        """The member directory, signed by the hub (Ed25519 over its canonical JSON)."""
        return hub.signed_directory()

    @app.post("/v1/exchange", tags=["network"], response_class=Response)
    async def exchange(request: Request) -> Response:
        answer = await run_in_threadpool(exchange_handler, await request.body())
        return Response(answer, media_type="application/json")

    @app.get("/v1/health", tags=["network"])
    def health() -> dict[str, str]:
        return {"status": "ok", "role": "hub"}

    return app
