"""Registering a visit at the visit node (门诊挂号 / 入院): who the person is, asked of her
home region through the hub's person locator, and the visit the hospital then settles on."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date

from tongban.domain.calendar import local_date
from tongban.domain.catalogue import CatalogueItem
from tongban.domain.identifiers import ResidentId, parse_id_number, parse_institution_code
from tongban.domain.policy import MedType
from tongban.errors import Forbidden, InvalidInput, NotFound, Refused
from tongban.service_layer.commands import RegisterVisit
from tongban.service_layer.ports import Caller, Clock, NodeStore, NodeTx
from tongban.service_layer.records import InstitutionRecord, VisitRecord
from tongban.service_layer.views import PersonAtHome, VisitView


class VisitRegistration:
    def __init__(
        self,
        region: str,
        store: NodeStore,
        caller: Caller,
        pseudonym_of: Callable[[str], str],
        catalogue: Callable[[], Mapping[str, CatalogueItem]],
        institution: Callable[[str], InstitutionRecord | None],
        clock: Clock,
    ) -> None:
        self.region = region
        self.institution = institution
        self.store = store
        self.caller = caller
        self.pseudonym_of = pseudonym_of
        self.catalogue = catalogue
        self.clock = clock

    # --- who is this person (人员信息) --------------------------------------------------------
    def identify(self, id_number: str, acting_for: str, emergency: bool = False) -> PersonAtHome:
        """Where a person is insured and what the home region says of her today (masked),
        asked for an enabled institution of this region; nothing is stored."""
        now = self.clock()
        resident = parse_id_number(id_number, local_date(now))
        self._enabled_institution(acting_for)
        pseudonym = self.pseudonym_of(resident.number)
        home = self.locate(pseudonym)
        if home == self.region:
            raise Refused("NOT_CROSS_REGION", "the person is insured here: settle locally")
        return self.ask_home(resident, pseudonym, home, local_date(now), emergency)

    def ask_home(
        self, resident: ResidentId, pseudonym: str, home: str, on: date, emergency: bool
    ) -> PersonAtHome:
        """What her home region says of her for a visit on ``on`` (the signed "person" call)."""
        info = self.caller.call(
            home,
            "person",
            {"pseudonym": pseudonym, "visit_date": on.isoformat(), "emergency": emergency},
        )
        return PersonAtHome(
            resident=resident,
            pseudonym=pseudonym,
            home_region=home,
            insutype=str(info["insutype"]),
            masked_id=str(info["masked_id"]),
            masked_name=str(info["masked_name"]),
            filed=tuple(str(c) for c in info.get("filed", ())),
            account_balance=_fen_or_none(info.get("account_balance")),
        )

    # --- register (门诊挂号 / 入院) ----------------------------------------------------------
    def register(self, command: RegisterVisit, acting_for: str) -> VisitView:
        code = parse_institution_code(command.institution_code)
        if code != acting_for:
            raise Forbidden("INSTITUTION_MISMATCH", f"you are authenticated as {acting_for}")
        try:
            med_type = MedType(command.med_type)
        except ValueError:
            raise InvalidInput("INVALID_MED_TYPE", "med_type is outpatient or inpatient") from None
        return self.register_person(
            self.identify(command.id_number, code, command.emergency),
            med_type,
            command.emergency,
            code,
        )

    def register_person(
        self, person: PersonAtHome, med_type: MedType, emergency: bool, acting_for: str
    ) -> VisitView:
        """Register a visit of a person ``identify`` found (for the institution ``acting_for``),
        without asking her home region a second time."""
        now = self.clock()
        record = VisitRecord(
            visit_id=uuid.uuid4().hex,
            institution_code=acting_for,
            pseudonym=person.pseudonym,
            masked_id=person.masked_id,
            masked_name=person.masked_name,
            home_region=person.home_region,
            insutype=person.insutype,
            med_type=med_type.value,
            emergency=emergency,
            visit_date=local_date(now),
            registered_at=now,
        )
        with self.store.write() as tx:
            tx.insert_visit(record)
        return VisitView.of(record, person.filed)

    def locate(self, pseudonym: str) -> str:
        """Home region of a person: the local cache first, then the hub's person locator."""
        with self.store.read() as tx:
            home = tx.located(pseudonym)
        if home is not None:
            return home
        try:
            home = str(
                self.caller.call("hub", "locator.lookup", {"pseudonym": pseudonym})["home_region"]
            )
        except NotFound:
            raise NotFound("PERSON_NOT_LOCATED", "no member region insures this person") from None
        with self.store.write() as tx:
            tx.remember_location(pseudonym, home)
        return home

    def visit(self, visit_id: str, acting_for: str) -> VisitView:
        with self.store.read() as tx:
            record = self._own_visit(tx, visit_id, acting_for)
        return VisitView.of(record, ())

    def mark_emergency(self, visit_id: str, acting_for: str) -> VisitView:
        """The hospital learns after registration that the visit is an emergency (急诊): its
        settlements from now on count as filed for emergency (DESIGN.md §4.4)."""
        with self.store.write() as tx:
            record = self._own_visit(tx, visit_id, acting_for)
            if not record.emergency:
                tx.set_visit_emergency(visit_id)
                record = replace(record, emergency=True)
        return VisitView.of(record, ())

    def _own_visit(self, tx: NodeTx, visit_id: str, acting_for: str) -> VisitRecord:
        visit = tx.visit(visit_id)
        if visit is None:
            raise NotFound("VISIT_NOT_FOUND", f"no visit {visit_id!r} at this node")
        if visit.institution_code != acting_for:
            raise Forbidden("INSTITUTION_MISMATCH", "this visit belongs to another institution")
        return visit

    def _enabled_institution(self, code: str) -> InstitutionRecord:
        institution = self.institution(code)
        if institution is None:
            raise NotFound("UNKNOWN_INSTITUTION", f"{code} is not designated in {self.region}")
        if not institution.enabled:
            raise Refused(
                "INSTITUTION_NOT_ENABLED", f"{code} is not enabled for cross-region settlement"
            )
        return institution


def _fen_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
