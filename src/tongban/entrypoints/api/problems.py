"""RFC 9457 problem+json for every error; a stable ``code`` on each; never a bare 500 page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tongban.entrypoints.api.limits import EXCHANGE_PATH, InputGuard
from tongban.entrypoints.api.schemas import Problem
from tongban.entrypoints.observability import mask_ids
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
        "detail": mask_ids(detail),  # an ID number a caller put in a path or an id: masked
        "code": code,
        "instance": mask_ids(instance),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [mask_ids(str(p)) for p in e.get("loc", ())],  # a field named by an ID
            "msg": mask_ids(str(e.get("msg", ""))),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path: FastAPI's 405 names only the first route's.

    Asked of the routes themselves (included routers nest theirs), one method at a time.
    """
    allowed = [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Refusals of the input guard (limits.py), possible on every operation it guards.
GUARD_REFUSALS = {"422": "invalid input, or hidden characters in the path or query (see `code`)"}
BODY_REFUSALS = {
    "413": "the body is too large (`BODY_TOO_LARGE`)",
    "415": "the body is not declared JSON in UTF-8 (`UNSUPPORTED_MEDIA_TYPE`)",
}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every problem answer the Problem schema, and document the guard's refusals.

    FastAPI documents its own 422 as JSON ``HTTPValidationError``; here it is problem+json.
    A 202 documented without a body (settle, cancel: UNKNOWN, CANCELLING) has the 200's.
    """
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if not path.endswith(EXCHANGE_PATH):  # the exchange answers every refusal signed
                refusals = GUARD_REFUSALS | (BODY_REFUSALS if "requestBody" in operation else {})
                for status, description in refusals.items():
                    responses.setdefault(status, {"description": description})
            accepted, done = responses.get("202"), responses.get("200", {})
            if accepted is not None and "content" not in accepted and "content" in done:
                accepted["content"] = done["content"]  # the same body, not final yet
            for status, response in responses.items():
                if status[:1] not in ("4", "5"):
                    continue
                content = response.setdefault("content", {})
                if not content.get(PROBLEM_JSON, {}).get("schema"):
                    content.pop("application/json", None)
                    content[PROBLEM_JSON] = {"schema": PROBLEM_REF}
    return schema


def install_problem_handlers(app: FastAPI) -> None:
    """Problem answers for every error, the input guard, and both in the OpenAPI schema."""
    app.add_middleware(InputGuard, answer=answer)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

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
        response = answer(request, exc.status_code, code, str(exc.detail), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: a 405 names the methods the resource allows
            response.headers["allow"] = _allowed_methods(request)
        return response

    @app.exception_handler(OperationalError)
    async def _storage(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("storage unavailable on %s: %s", request.url.path, exc.orig)
        return storage_unavailable(request)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        detail = "this is a bug in tongban; it has been logged"
        return answer(request, 500, "INTERNAL", "Internal error", detail)
