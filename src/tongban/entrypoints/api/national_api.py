"""``POST /v1/national``: the national platform's hospital interface, one envelope per call.

Answers are envelopes with HTTP 200, success or not, as hospital systems written for the
national platform expect (they read ``infcode``, not the status line); only a body that is not
JSON at all is refused before it, by the input guard, as problem+json.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool

from tongban.domain.national import KNOWN_INFNOS
from tongban.entrypoints.api.auth import parse_bearer
from tongban.entrypoints.api.limits import parse_json
from tongban.entrypoints.observability import NodeMetrics, mask_ids
from tongban.errors import TongbanError
from tongban.service_layer.national import NationalInterface
from tongban.service_layer.node import NodeService

EXAMPLE = {
    "infno": "1101",
    "msgid": "H31000000001202612031015300001",
    "mdtrtarea_admvs": "310000",
    "insuplc_admdvs": "",
    "fixmedins_code": "H31000000001",
    "inf_time": "2026-12-03 10:15:30",
    "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330702195803070125"}},
}
REQUEST = {
    "required": True,
    "content": {"application/json": {
        "schema": {"type": "object", "required": ["infno", "msgid", "mdtrtarea_admvs",
                                                   "fixmedins_code", "inf_time", "input"]},
        "example": EXAMPLE,
    }},
}
ANSWER = {
    "description": "the answer envelope: infcode 0 with output, or -1 with err_msg "
    '"<CODE>: detail"',
    "content": {"application/json": {"example": {
        "infcode": 0, "inf_refmsgid": "310000202612031015300000000001",
        "refmsg_time": "2026-12-03 10:15:30", "respond_time": "2026-12-03 10:15:30",
        "err_msg": "", "output": {"baseinfo": {"psn_no": "..."}, "insuinfo": [], "idetinfo": []},
    }}},
}


def national_router(
    service: NodeService, national: NationalInterface, metrics: NodeMetrics
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["national interface (国家医保接口)"])

    @router.post("/national", responses={200: ANSWER}, openapi_extra={"requestBody": REQUEST})
    async def envelope(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """One national transaction (infno 1101, 2201-2208, 2301-2305, 2401, 2402, 2601, 3201,
        3202) in the national envelope; amounts in yuan with two decimals. The hospital's API
        key (`Authorization: Bearer ...`) must be that of `fixmedins_code`."""
        body = await request.body()
        raw = parse_json(body) if body else None  # as sent: a parsed model would coerce
        try:
            institution = service.authenticate(parse_bearer(authorization))
            request.state.institution = institution
        except TongbanError as exc:
            answer = national.refusal(exc)
        else:
            answer = await run_in_threadpool(national.handle, raw, institution)
        infno = raw.get("infno") if isinstance(raw, dict) else None
        code = "OK"
        if answer["infcode"] != 0:
            answer["err_msg"] = mask_ids(str(answer["err_msg"]))  # an ID number sent as an id
            code = request.state.problem_code = answer["err_msg"].split(":")[0]
        # a label only for transaction numbers (an infno sent as a list is not even hashable)
        label = infno if isinstance(infno, str) and infno in KNOWN_INFNOS else "other"
        metrics.national_answer(label, code)
        return answer

    return router
