"""Eligibility (参保资格查询): may this person settle directly at this hospital, and how?

Asked by a hospital of its own (visit) node before a visit. The node finds the home region
(person locator), asks it who the person is and which filings cover this region on the day,
then asks it to *quote* an empty bill per med_type: the home's own policy then says whether
direct settlement would be refused without a filing (FILING_REQUIRED) and at which ratio it
would pay. Nothing is stored and nothing is charged. A person no member region insures, one
insured here, or an institution not enabled is an answer (not covered), not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from tongban.domain.calendar import local_date
from tongban.domain.catalogue import BillPieces
from tongban.domain.identifiers import (
    ResidentId,
    mask_id_number,
    parse_id_number,
    parse_institution_code,
)
from tongban.domain.policy import MedType
from tongban.errors import Forbidden, NotFound, Refused
from tongban.service_layer import wire
from tongban.service_layer.ports import Caller, Clock
from tongban.service_layer.records import InstitutionRecord
from tongban.service_layer.views import PersonAtHome

# The home's refusals that answer "not this way" for one med_type rather than fail the check.
BENEFIT_REFUSALS = frozenset({"FILING_REQUIRED", "NO_POLICY"})


@dataclass(frozen=True, slots=True)
class CheckEligibility:
    institution_code: str
    id_number: str
    med_types: tuple[MedType, ...] = (MedType.OUTPATIENT, MedType.INPATIENT)
    on: date | None = None  # the visit date; today (Asia/Shanghai) when not given
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class Benefit:
    """How the home region would settle a bill of this med_type at this institution today."""

    med_type: MedType
    filing: str  # the filing category it would apply (long_term ... none)
    ratio: Decimal | None  # the fund's ratio after reductions; None when refused
    refused: str | None  # FILING_REQUIRED (needs a filing first) or NO_POLICY


@dataclass(frozen=True, slots=True)
class Coverage:
    covered: bool  # may settle directly here (located, not local, institution enabled)
    reason: str | None  # why not: PERSON_NOT_LOCATED, NOT_CROSS_REGION, ...
    masked_id: str
    on: date
    home_region: str | None = None
    insutype: str | None = None
    masked_name: str | None = None
    filed: tuple[str, ...] = ()  # filing categories covering this region on that date
    account_balance: int | None = None  # fen, when the home region tells
    benefits: tuple[Benefit, ...] = ()


class Eligibility:
    def __init__(
        self,
        region: str,
        caller: Caller,
        pseudonym_of: Callable[[str], str],
        locate: Callable[[str], str],
        ask_home: Callable[[ResidentId, str, str, date, bool], PersonAtHome],
        institution: Callable[[str], InstitutionRecord | None],
        clock: Clock,
    ) -> None:
        self.region = region
        self.caller = caller  # for the home's quote
        self.pseudonym_of = pseudonym_of
        self.locate = locate
        self.ask_home = ask_home
        self.institution = institution
        self.clock = clock

    def check(self, command: CheckEligibility, acting_for: str) -> Coverage:
        code = parse_institution_code(command.institution_code)
        if code != acting_for:
            raise Forbidden("INSTITUTION_MISMATCH", f"you are authenticated as {acting_for}")
        today = local_date(self.clock())
        on = command.on or today
        resident = parse_id_number(command.id_number, today)
        masked = mask_id_number(resident.number)
        institution = self.institution(code)
        if institution is None:
            raise NotFound("UNKNOWN_INSTITUTION", f"{code} is not designated in {self.region}")
        pseudonym = self.pseudonym_of(resident.number)
        try:
            home = self.locate(pseudonym)
        except NotFound as exc:  # PERSON_NOT_LOCATED: no member region insures her
            return Coverage(False, exc.code, masked, on)
        if home == self.region:
            return Coverage(False, "NOT_CROSS_REGION", masked, on, home_region=home)
        try:
            at_home = self.ask_home(resident, pseudonym, home, on, command.emergency)
        except NotFound as exc:  # the locator's region no longer insures her
            return Coverage(False, exc.code, masked, on, home_region=home)
        person = Coverage(
            covered=institution.enabled,
            reason=None if institution.enabled else "INSTITUTION_NOT_ENABLED",
            masked_id=at_home.masked_id,
            on=on,
            home_region=home,
            insutype=at_home.insutype,
            masked_name=at_home.masked_name,
            filed=at_home.filed,
            account_balance=at_home.account_balance,
        )
        if not institution.enabled:
            return person
        benefits = tuple(
            self._benefit(home, pseudonym, institution, m, on, command.emergency)
            for m in command.med_types
        )
        return replace(person, benefits=benefits)

    def _benefit(
        self,
        home: str,
        pseudonym: str,
        institution: InstitutionRecord,
        med_type: MedType,
        on: date,
        emergency: bool,
    ) -> Benefit:
        """The home's quote of an empty bill: its policy row, filing category and ratio."""
        body = {
            "settlement_id": "",
            "pseudonym": pseudonym,
            "med_type": med_type.value,
            "level": institution.level,
            "institution_code": institution.code,
            "settled_on": on.isoformat(),
            "emergency": emergency,
            "pieces": wire.pieces_to_json(BillPieces()),
            "use_account": False,
        }
        try:
            result = self.caller.call(home, "quote", body)
        except Refused as exc:
            if exc.code not in BENEFIT_REFUSALS:
                raise
            return Benefit(med_type, "none", None, exc.code)
        ratio = Decimal(str(result["split"]["ratio_applied"]))
        return Benefit(med_type, str(result.get("filing", "none")), ratio, None)
