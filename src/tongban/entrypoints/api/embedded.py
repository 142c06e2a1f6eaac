"""One HTTP server for a whole embedded network: ``/hub/...`` and ``/nodes/<region>/...``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tongban.bootstrap import EmbeddedNetwork
from tongban.domain.regions import region
from tongban.entrypoints.api.hub_api import create_hub_app
from tongban.entrypoints.api.node_api import create_node_app
from tongban.entrypoints.api.problems import install_problem_handlers


def create_network_app(network: EmbeddedNetwork) -> FastAPI:
    app = FastAPI(title="tongban embedded network", version="1")
    install_problem_handlers(app)
    app.mount("/hub", create_hub_app(network.hub.hub, network.hub.handler()))
    for code, runtime in network.nodes.items():
        app.mount(f"/nodes/{code}", create_node_app(runtime.service, runtime.handler()))

    @app.get("/")
    def index() -> dict[str, Any]:
        return {
            "hub": "/hub/v1/directory",
            "nodes": {
                code: {
                    "name": region(code).name_zh,
                    "api": f"/nodes/{code}/v1",
                    "docs": f"/nodes/{code}/docs",
                }
                for code in network.nodes
            },
        }

    return app
