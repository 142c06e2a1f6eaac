"""A bill submitted as a claim that names its patient (FHIR Claim): the visit side's preview and
settle, after checking that the patient named is the visit's.

tongban's own API identifies a bill by its visit alone; a claim also names the patient, so a
claim for the wrong person's visit is refused (PATIENT_MISMATCH) instead of being charged to
whoever the visit belongs to. Everything else (idempotency, UNKNOWN, refusals) is the visit
side's, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from tongban.domain.calendar import local_date
from tongban.domain.identifiers import parse_id_number
from tongban.errors import InvalidInput
from tongban.service_layer.commands import PreviewBill, SettleBill
from tongban.service_layer.ports import Clock, NodeStore
from tongban.service_layer.views import Preview, SettlementView, VisitView
from tongban.service_layer.visit_side import VisitSide


class Claims:
    def __init__(
        self,
        visits: VisitSide,
        store: NodeStore,
        pseudonym_of: Callable[[str], str],
        clock: Clock,
    ) -> None:
        self.visits = visits
        self.store = store
        self.pseudonym_of = pseudonym_of
        self.clock = clock

    def patients_visit(self, visit_id: str, id_number: str, acting_for: str) -> VisitView:
        """The visit, if it is this institution's and this person's (else 404/403/422)."""
        resident = parse_id_number(id_number, local_date(self.clock()))
        view = self.visits.visit(visit_id, acting_for)  # VISIT_NOT_FOUND, INSTITUTION_MISMATCH
        with self.store.read() as tx:
            record = tx.visit(visit_id)
        if record is None or record.pseudonym != self.pseudonym_of(resident.number):
            raise InvalidInput(
                "PATIENT_MISMATCH", "the claim's patient is not the person of this visit"
            )
        return view

    def preview(self, command: PreviewBill, id_number: str, acting_for: str) -> Preview:
        self.patients_visit(command.visit_id, id_number, acting_for)
        return self.visits.preview(command, acting_for)

    def settle(self, command: SettleBill, id_number: str, acting_for: str) -> SettlementView:
        self.patients_visit(command.visit_id, id_number, acting_for)
        return self.visits.settle(command, acting_for)

    def settlement(self, settlement_id: str, acting_for: str) -> tuple[SettlementView, VisitView]:
        """A settlement of this institution's, with its visit."""
        view = self.visits.status(settlement_id, acting_for)
        return view, self.visits.visit(view.visit_id, acting_for)
