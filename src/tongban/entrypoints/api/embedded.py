"""One HTTP server for a whole embedded network: ``/hub/...`` and ``/nodes/<region>/...``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tongban.bootstrap import EmbeddedNetwork
from tongban.domain.regions import region
from tongban.entrypoints.api.hub_api import HUB_METRICS_REGION, create_hub_app
from tongban.entrypoints.api.node_api import create_node_app
from tongban.entrypoints.api.problems import install_problem_handlers
from tongban.entrypoints.observability import Metrics, NodeMetrics, count_exchange, node_metrics
from tongban.entrypoints.web.console import create_console_app


def create_network_app(
    network: EmbeddedNetwork, demo: dict[str, Any] | None = None
) -> FastAPI:
    """Each mounted service keeps its own metrics (``app.state.node_metrics[region]``).

    Messages between embedded services travel in-process and never reach HTTP, so their
    in-process endpoints are re-registered behind the same counters as the HTTP exchange.
    """
    app = FastAPI(title="tongban embedded network", version="1")
    install_problem_handlers(app)
    hub_metrics = Metrics(HUB_METRICS_REGION)
    network.inproc.register("inproc://hub", count_exchange(hub_metrics, network.hub.handler()))
    app.mount(
        "/hub",
        create_hub_app(
            network.hub.hub,
            network.hub.handler(),
            hub_metrics,
            clearing=network.hub.clearing,
            operators=network.hub.operators,
        ),
    )
    metrics: dict[str, NodeMetrics] = {}
    for code, runtime in network.nodes.items():
        metrics[code] = node_metrics(runtime.service)
        network.inproc.register(
            f"inproc://{code}", count_exchange(metrics[code], runtime.handler())
        )
        app.mount(
            f"/nodes/{code}",
            create_node_app(
                runtime.service,
                runtime.handler(),
                metrics[code],
                residents=runtime.residents,
                view=runtime.view,
                operators=runtime.operators,
                settlements=runtime.settlements,
                national=runtime.national,
            ),
        )
    views = {code: runtime.view for code, runtime in network.nodes.items()}
    app.mount("/console", create_console_app(views, network.hub.operators, demo))
    app.state.node_metrics = metrics
    app.state.hub_metrics = hub_metrics

    @app.get("/")
    def index() -> dict[str, Any]:
        return {
            "console": "/console/",
        "hub": "/hub/v1/directory",
            "nodes": {
                code: {
                    "name": region(code).name_zh,
                    "api": f"/nodes/{code}/v1",
                    "docs": f"/nodes/{code}/docs",
                    "metrics": f"/nodes/{code}/metrics",
                    "national": f"/nodes/{code}/v1/national",
                }
                for code in network.nodes
            },
        }

    return app
