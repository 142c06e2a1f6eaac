"""How FHIR routes answer: resources as application/fhir+json, and every error as a FHIR
OperationOutcome carrying tongban's stable code, with the status tongban gives it.

The code is in ``issue[0].details.coding`` (system urn:tongban:error-code) and leads
``diagnostics``, so a FHIR client matches on it as a tongban client matches on a problem's
``code``. Refusals of the input guard (size, media type, malformed JSON) come before any
route and stay problem+json, as everywhere in tongban.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from tongban.entrypoints.api.fhir_wire import ERROR_CODE, FHIR_JSON, FHIR_VERSION, dumps
from tongban.entrypoints.observability import mask_ids
from tongban.errors import Refused, TongbanError

# OperationOutcome.issue.code (http://hl7.org/fhir/issue-type) for tongban's statuses.
ISSUE_TYPES = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


class FhirResponse(Response):
    """A FHIR resource (a dict, Decimals exact) as application/fhir+json."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)


def operation_outcome(code: str, title: str, detail: str, issue_type: str) -> dict[str, Any]:
    text = mask_ids(detail)  # an ID number a caller sent back to them: masked (DESIGN.md §5)
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue_type,
                "details": {"coding": [{"system": ERROR_CODE, "code": code}], "text": title},
                "diagnostics": f"{code}: {text}",
            }
        ],
    }


def outcome_answer(
    request: Request, status: int, code: str, title: str, detail: str, issue_type: str | None = None
) -> FhirResponse:
    """An OperationOutcome answer, logged and counted as problems.answer does."""
    request.state.problem_code = code  # the request's log line names it
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.refusal(code)
    kind = issue_type or ISSUE_TYPES.get(status, "processing")
    return FhirResponse(operation_outcome(code, title, detail, kind), status_code=status)


class FhirRoute(APIRoute):
    """A route whose errors, its dependencies' included (the API key), are OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fhir_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except TongbanError as exc:
                kind = "business-rule" if isinstance(exc, Refused) else None
                return outcome_answer(request, exc.status, exc.code, exc.title, exc.detail, kind)
            except RequestValidationError as exc:
                where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                detail = f"the request does not match the operation: {where}"
                return outcome_answer(request, 422, "INVALID_REQUEST", "Invalid input", detail)

        return fhir_handler


# --- OpenAPI ---------------------------------------------------------------------------------
OUTCOME_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def resource_schema(*names: str) -> dict[str, Any]:
    """A JSON schema that names the resource types only: FHIR itself is the full schema."""
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"enum": list(names)}},
        "additionalProperties": True,
    }


def fhir_content(*names: str) -> dict[str, Any]:
    return {FHIR_JSON: {"schema": resource_schema(*names)}}


def fhir_body(name: str, description: str) -> dict[str, Any]:
    """openapi_extra for a route that reads a FHIR resource from its raw body."""
    schema = resource_schema(name)
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}},
        }
    }


def fhir_errors(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """Responses documented as OperationOutcome (status=description, e.g. e404="...")."""
    return {
        int(status.removeprefix("e")): {
            "description": description,
            "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}},
        }
        for status, description in descriptions.items()
    }


def fhir_ok(status: int, description: str, *names: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": fhir_content(*names)}}


# --- CapabilityStatement ---------------------------------------------------------------------
CAPABILITY_DATE = "2026-12-03"  # when what is served last changed


def capability_statement(title: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /fhir/metadata: FHIR R4B (4.3.0), JSON only, a bearer key on every other route."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "kind": "instance",
        "software": {"name": "tongban"},
        "implementation": {"description": title},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer <key> (a hospital's API key at a "
                    "node, an operator key at the hub); errors are OperationOutcomes with "
                    f"tongban's stable code (system {ERROR_CODE})"
                },
                "resource": resources,
            }
        ],
    }
