"""Residents at their home node (``/v1``): sign-in with a one-time code, then their own filings.

Every filing route takes the resident's session token (``Authorization: Bearer ...``) and
acts for that person only; a hospital's API key is not a session token, nor the reverse.
"""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tongban.entrypoints.api.auth import parse_bearer
from tongban.entrypoints.api.problems import PROBLEM_JSON
from tongban.entrypoints.api.schemas import FilingOut
from tongban.service_layer.records import FilingRecord, PersonRecord
from tongban.service_layer.resident_settlements import ResidentSettlements
from tongban.service_layer.residents import ResidentFiling, Residents

PROBLEM: dict[str, Any] = {"model": None, "content": {PROBLEM_JSON: {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no, unknown, signed-out or expired session token", **PROBLEM},
    403: {"description": "an ID number that is not the signed-in resident's", **PROBLEM},
    404: {"description": "unknown filing (or someone else's), or unknown sign-in", **PROBLEM},
    422: {"description": "invalid input or refused by policy (see `code`)", **PROBLEM},
}
IdNumberIn = Annotated[str, Field(max_length=32, description="18-character resident ID number")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInIn(Strict):
    id_number: IdNumberIn


class ChallengeOut(BaseModel):
    challenge_id: str
    expires_at: datetime
    delivery: str = Field(description="how the code travels to the resident, e.g. sms")
    demo_code: str | None = Field(
        None, description="the code itself: only on a node started with demo codes"
    )


class SessionIn(Strict):
    challenge_id: Annotated[str, Field(max_length=64)]
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the 6-digit code received")]


class SessionOut(BaseModel):
    token: str
    expires_at: datetime


class ResidentOut(BaseModel):
    masked_id: str
    masked_name: str
    insutype: str
    account_balance: int = Field(description="personal account balance, fen")


class ResidentFilingIn(Strict):
    id_number: IdNumberIn | None = Field(None, description="optional; must be your own")
    kind: Literal[
        "retired_resettled", "long_term_resident", "posted_worker", "referral", "emergency", "other"
    ]
    target_region: Annotated[str, Field(description="city or province code", max_length=6)]
    start_date: date | None = None
    months: Annotated[int | None, Field(ge=1, le=120)] = None
    commitment: StrictBool = Field(description="the resident's personal commitment (承诺制)")


def _filing_out(record: FilingRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if k not in ("person_id", "created_at")}


def resident_router(residents: Residents, settlements: ResidentSettlements) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["residents (home region)"], responses=ERRORS)

    def token(authorization: Annotated[str | None, Header()] = None) -> str | None:
        return parse_bearer(authorization)

    def signed_in(authorization: Annotated[str | None, Header()] = None) -> PersonRecord:
        return residents.authenticate(parse_bearer(authorization))

    Token = Annotated[str | None, Depends(token)]
    Resident = Annotated[PersonRecord, Depends(signed_in)]

    @router.post(
        "/residents/sign-in",
        status_code=202,
        response_model=ChallengeOut,
        response_model_exclude_none=True,
        responses={429: {"description": "too many sign-ins for this ID number", **PROBLEM}},
    )
    def sign_in(body: SignInIn) -> Any:
        """Start signing in: a one-time code goes to the resident (by SMS) if they are insured
        here. The answer is the same either way."""
        return asdict(residents.sign_in(body.id_number))

    @router.post("/residents/session", status_code=201, response_model=SessionOut)
    def open_session(body: SessionIn) -> Any:
        """Exchange the code for a session token (30 minutes). Five wrong codes burn it."""
        return asdict(residents.open_session(body.challenge_id, body.code))

    @router.post("/residents/sign-out", status_code=204, response_class=Response)
    def sign_out(bearer: Token) -> Response:
        """End the session: its token is refused from then on."""
        residents.sign_out(bearer)
        return Response(status_code=204)

    @router.get("/residents/me", response_model=ResidentOut)
    def me(person: Resident) -> Any:
        return asdict(residents.me(person))

    @router.post("/filings", status_code=201, response_model=FilingOut)
    def create_filing(body: ResidentFilingIn, person: Resident) -> Any:
        """File a cross-region record (异地就医备案) with a personal commitment (承诺制)."""
        request = ResidentFiling(
            kind=body.kind,
            target_region=body.target_region,
            start_date=body.start_date,
            months=body.months,
            commitment=body.commitment,
            id_number=body.id_number,
        )
        return _filing_out(residents.file(person, request))

    @router.get("/filings", response_model=list[FilingOut])
    def list_filings(
        person: Resident, id_number: Annotated[str | None, Query(max_length=32)] = None
    ) -> Any:
        """Your filings; an `id_number` other than yours is refused (NOT_YOUR_RECORD)."""
        return [_filing_out(f) for f in residents.filings(person, id_number)]

    @router.get("/residents/me/settlements")
    def my_settlements(person: Resident) -> list[dict[str, Any]]:
        """Your settlements in other regions (committed, or cancelled since), newest first."""
        return settlements.of(person)

    @router.get("/residents/me/settlements/{visit_region}/{settlement_id}")
    def my_settlement(visit_region: str, settlement_id: str, person: Resident) -> dict[str, Any]:
        """One of your settlements with its split explained step by step; its bill lines come
        from the visit region (`lines: null` when it did not answer)."""
        return settlements.explained(person, visit_region, settlement_id)

    @router.post("/filings/{filing_id}/revoke", response_model=FilingOut)
    def revoke_filing(filing_id: str, person: Resident) -> Any:
        """Revoke one of your filings (again: no change)."""
        return _filing_out(residents.revoke(person, filing_id))

    return router
