"""A node's read-only routes for its operators (``/v1/operator``) and its published reference
data (``/v1/reference``): what the console's network and region views show."""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tongban.entrypoints.api.auth import require_operator
from tongban.entrypoints.api.problems import PROBLEM_JSON
from tongban.service_layer.operators import OperatorKeys
from tongban.service_layer.records import VisitStatus
from tongban.service_layer.region_view import (
    MAX_PAGE,
    RegionView,
    SettlementSearch,
    catalogue_out,
    row_out,
)

PROBLEM: dict[str, Any] = {"model": None, "content": {PROBLEM_JSON: {}}}
OPERATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no operator key, or one this node does not accept", **PROBLEM},
    404: {"description": "unknown settlement", **PROBLEM},
    422: {"description": "invalid query (see `code`)", **PROBLEM},
}
Text = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def operator_router(view: RegionView, operators: OperatorKeys) -> APIRouter:
    router = APIRouter(
        prefix="/v1/operator",
        tags=["operators (read-only)"],
        responses=OPERATOR_ERRORS,
        dependencies=[require_operator(operators)],
    )

    @router.get("/flows")
    def flows(from_date: date, to_date: date) -> dict[str, Any]:
        """Settlements at this node (as visit region) per day, home region, status and refusal
        code, with their sums (fen). The console adds every node's up for the network view."""
        rows = view.flows(from_date, to_date)
        return {"region": view.region, "rows": [asdict(r) for r in rows]}

    @router.get("/settlements")
    def settlements(
        settlement_id: Text = None,
        institution: Text = None,
        date: date | None = None,
        status: VisitStatus | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """Search this node's settlements, newest first; ID numbers and names masked."""
        search = SettlementSearch(settlement_id, institution, date, status, limit, offset)
        total, rows = view.settlements(search)
        return {"total": total, "items": [row_out(r) for r in rows]}

    @router.get("/settlements/{settlement_id}")
    def settlement(settlement_id: str) -> dict[str, Any]:
        """One settlement with its classified lines and split."""
        return view.settlement(settlement_id)

    return router


def reference_router(view: RegionView) -> APIRouter:
    router = APIRouter(prefix="/v1/reference", tags=["reference data (public)"])

    @router.get("/policies")
    def policies() -> list[dict[str, Any]]:
        """The policy rows this region applies to its insured (DESIGN §4.2)."""
        return view.policy_rows()

    @router.get("/catalogue", responses={422: {"description": "bad paging", **PROBLEM}})
    def catalogue(q: Text = None, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        """This region's catalogue (目录), searched by code or name."""
        total, items = view.catalogue(q, limit, offset)
        return {"total": total, "items": [catalogue_out(i) for i in items]}

    @router.get("/institutions")
    def institutions(q: Text = None, enabled: bool | None = None) -> list[dict[str, Any]]:
        """Designated institutions (定点医药机构); `enabled`: for cross-region settlement."""
        return [
            {"code": i.code, "name": i.name, "level": i.level, "enabled": i.enabled}
            for i in view.institutions(q, enabled)
        ]

    return router
