"""The console's own routes (``/console/api``) and its static page (``/console/``).

The page calls the nodes' and the hub's HTTP APIs like any client; these routes only add what
no single member can answer: the region list with city seats for the map, the whole network's
flows (every node's ``/v1/operator/flows`` added up), and, in the demo, sample credentials.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

import csv
import io
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tongban.domain.regions import yrd_regions
from tongban.entrypoints.api.auth import require_operator
from tongban.entrypoints.api.problems import install_problem_handlers
from tongban.errors import NotFound
from tongban.service_layer.network_view import network_flows
from tongban.service_layer.operators import OperatorKeys
from tongban.service_layer.region_view import RegionView

STATIC = Path(str(files("tongban.entrypoints.web").joinpath("static")))


@cache
def regions_with_seats() -> list[dict[str, str]]:
    text = files("tongban.data").joinpath("yrd-city-seats.csv").read_text(encoding="utf-8")
    seats = {r["code"]: r for r in csv.DictReader(io.StringIO(text))}
    return [
        {
            "code": r.code,
            "name_zh": r.name_zh,
            "name_en": r.name_en,
            "province": r.province,
            "lon": seats[r.code]["lon"],
            "lat": seats[r.code]["lat"],
        }
        for r in yrd_regions()
    ]


def create_console_app(
    views: Mapping[str, RegionView],
    network_operators: OperatorKeys,
    demo: dict[str, Any] | None = None,
) -> FastAPI:
    """``views``: every node's read model; ``network_operators``: whose keys may see the whole
    network (the hub's); ``demo``: the sample credentials, only when the demo serves."""
    app = FastAPI(title="tongban console", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)

    @app.get("/api/regions")
    def regions() -> list[dict[str, str]]:
        return regions_with_seats()

    @app.get("/api/demo")
    def demo_samples() -> dict[str, Any]:
        if demo is None:
            raise NotFound("NOT_A_DEMO", "sample credentials exist only in `tongban demo`")
        return demo

    @app.get("/api/network", dependencies=[require_operator(network_operators)])
    def network(from_date: date, to_date: date) -> dict[str, Any]:
        rows = {code: view.flows(from_date, to_date) for code, view in views.items()}
        return network_flows(rows, from_date, to_date)

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="static")
    return app
