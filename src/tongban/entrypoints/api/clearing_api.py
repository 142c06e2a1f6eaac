"""The hub's clearing for operators (``/v1/clearing``): periods, their net positions and
obligation matrix, reserves and alerts, exceptions held out, and the signed statements to
download. Read-only: clearing runs, resolutions and deposits stay with ``tongban clearing``.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from tongban.domain.clearing import Obligation, Period, ReserveAlert
from tongban.domain.money import yuan
from tongban.entrypoints.api.auth import require_operator
from tongban.entrypoints.api.problems import PROBLEM_JSON
from tongban.entrypoints.statement_render import render
from tongban.errors import InvalidInput, NotFound
from tongban.service_layer.clearing import ClearingHub
from tongban.service_layer.operators import OperatorKeys

PROBLEM: dict[str, Any] = {"model": None, "content": {PROBLEM_JSON: {}}}
CLEARING_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no operator key, or one the hub does not accept", **PROBLEM},
    404: {"description": "period not cleared, or no such statement (see `code`)", **PROBLEM},
    422: {
        "description": "a period that is not YYYY-MM, or an invalid query (see `code`)",
        **PROBLEM,
    },
}
_REGION = re.compile(r"[0-9]{6}")  # ASCII digits: it goes into a file name
MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
Format = Annotated[Literal["json", "csv", "html"], Query(alias="format")]
ExceptionStatus = Annotated[Literal["OPEN", "RESOLVED"] | None, Query()]


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _period(text: str) -> str:
    """The period as the store keys it; 422 INVALID_PERIOD for anything but YYYY-MM."""
    return str(Period.parse(text))


def obligation_out(o: Obligation) -> dict[str, Any]:
    return {**asdict(o), "amount": o.amount}


def alert_out(alert: ReserveAlert) -> dict[str, Any]:
    left = alert.months_covered
    # CRITICAL: the reserve may not cover next month's payment (or is already overdrawn).
    critical = alert.balance < 0 or (left is not None and left < 1)
    return {
        "region": alert.region,
        "level": "CRITICAL" if critical else "WARNING",
        "months_left": None if left is None else str(left),
        "balance": alert.balance,
        "monthly_average": alert.monthly_average,
        "threshold_months": str(alert.threshold_months),
        "message": alert.message,
    }


def _view_text(view: dict[str, Any] | None) -> str:
    if not view:
        return "nothing"
    return f"fund {yuan(int(view['hifp_pay']))} + account {yuan(int(view['acct_pay']))} yuan"


def exception_detail(x: Any) -> str:
    """In plain words what the two sides said (amounts are also in the views, in fen)."""
    said = {
        "VISIT_ONLY": f"the visit region reports {_view_text(x.visit_view)};"
        " the home region reports nothing",
        "HOME_ONLY": f"the home region reports {_view_text(x.home_view)};"
        " the visit region reports nothing",
    }.get(
        x.kind,
        f"the visit region reports {_view_text(x.visit_view)},"
        f" the home region {_view_text(x.home_view)}",
    )
    if x.status != "OPEN":
        said += f"; resolved {x.resolution}" + (f": {x.note}" if x.note else "")
        said += f", cleared in {x.cleared_in}" if x.cleared_in else ", to be cleared next run"
    return f"{x.event} {x.settlement_id}: {said}"


def exception_out(x: Any) -> dict[str, Any]:
    return {**asdict(x), "detail": exception_detail(x)}


def clearing_router(clearing: ClearingHub, operators: OperatorKeys) -> APIRouter:
    router = APIRouter(
        prefix="/v1/clearing",
        tags=["clearing (operators)"],
        responses=CLEARING_ERRORS,
        dependencies=[require_operator(operators)],
    )

    @router.get("/periods")
    def periods() -> list[dict[str, Any]]:
        """Every cleared period, oldest first: CLEARED (awaiting confirmations) or CLOSED."""
        return [
            {
                "period": r.period,
                "status": r.status,
                "matched": r.matched_events,
                "cleared_at": _moment(r.cleared_at),
                "closed_at": _moment(r.closed_at),
            }
            for r in clearing.store.periods()
        ]

    @router.get("/periods/{period}")
    def period(period: str) -> dict[str, Any]:
        """One period: obligations (home owes visit, fen), net positions (Σ = 0), each
        statement's answer, exceptions held out, and the reserves and alerts as they stand."""
        s = clearing.summary(_period(period))
        return {
            "period": s.period,
            "status": s.status,
            "matched": s.matched,
            "window_from": _moment(s.window_from),
            "window_to": _moment(s.window_to),
            "obligations": [obligation_out(o) for o in s.obligations],
            "positions": s.positions,
            "statements": s.statements,
            "disputes": s.disputes,
            "exceptions_found": [exception_out(x) for x in s.exceptions_found],
            "exceptions_open": s.exceptions_open,
            "carried": s.carried,
            "reserves": s.reserves,
            "alerts": [alert_out(a) for a in s.alerts],
        }

    @router.get("/exceptions")
    def exceptions(status: ExceptionStatus = None) -> list[dict[str, Any]]:
        """Events held out of clearing because the two sides disagree; all without `status`."""
        return [exception_out(x) for x in clearing.store.exceptions(status=status)]

    @router.get(
        "/statements/{period}/{region}",
        response_class=Response,
        responses={
            200: {
                "description": "the statement as a download",
                "content": {media: {} for media in MEDIA.values()},
            }
        },
    )
    def statement(period: str, region: str, format_: Format = "json") -> Response:
        """A region's statement as the hub signed it (json: the body, its digest and the hub's
        Ed25519 signature over its canonical JSON), as CSV, or as a readable HTML page."""
        p = _period(period)
        if not _REGION.fullmatch(region):
            raise InvalidInput("INVALID_REGION", "a region code is 6 digits, e.g. 330700")
        if clearing.store.period(p) is None:
            raise NotFound("PERIOD_NOT_CLEARED", f"{p} has not been cleared")
        found = [s for s in clearing.store.statements(p) if s["region"] == region]
        if not found:
            raise NotFound("STATEMENT_NOT_FOUND", f"no statement of {region} for {p}")
        text = render(found[0], format_)
        filename = f"statement-{p}-{region}.{format_}"
        return Response(
            text,
            media_type=MEDIA[format_],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router
