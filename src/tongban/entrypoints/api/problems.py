"""RFC 9457 problem+json for every error; a stable ``code`` on each; never a bare 500 page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tongban.errors import TongbanError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tongban.api")


def answer(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    """A problem answer to ``request``, noted for its log line and counted when metered."""
    request.state.problem_code = code  # the request log line names it
    metrics = getattr(request.app.state, "metrics", None)  # none on the embedded root app
    if metrics is not None:
        metrics.refusal(code)
    return problem(status, code, title, detail, request.url.path, **extra)


def storage_unavailable(request: Request) -> JSONResponse:
    return answer(
        request,
        503,
        "STORAGE_UNAVAILABLE",
        "Storage unavailable",
        "the node's database did not answer; nothing was changed, retry later",
    )


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"https://tongban.example/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(TongbanError)
    async def _tongban(request: Request, exc: TongbanError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if isinstance(v, (int, str, bool))}
        return answer(request, exc.status, exc.code, exc.title, exc.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable(list(exc.errors()))
        json_broken = any(e["type"] == "json_invalid" for e in errors)
        code = "MALFORMED_JSON" if json_broken else "INVALID_REQUEST"
        detail = (
            "the body is not valid JSON" if json_broken else "the request does not match the schema"
        )
        return answer(request, 422, code, "Invalid input", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return answer(request, exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _storage(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("storage unavailable on %s: %s", request.url.path, exc.orig)
        return storage_unavailable(request)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        detail = "this is a bug in tongban; it has been logged"
        return answer(request, 500, "INTERNAL", "Internal error", detail)
