"""What every national transaction shares: the services it drives and the checks it makes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tongban.domain import national_fields as f
from tongban.domain.catalogue import CatalogueItem
from tongban.domain.national import Envelope
from tongban.errors import Conflict, InvalidInput
from tongban.service_layer.national.ports import MessageRecord, NationalStore
from tongban.service_layer.ports import Clock
from tongban.service_layer.reconciliation import Reconciliation
from tongban.service_layer.records import VisitRecord
from tongban.service_layer.views import VisitView
from tongban.service_layer.visit_side import VisitSide


class NationalBase:
    def __init__(
        self,
        region: str,
        store: NationalStore,
        visit: VisitSide,
        reconciliation: Reconciliation,
        catalogue: Callable[[], Mapping[str, CatalogueItem]],
        clock: Clock,
    ) -> None:
        self.region = region
        self.store = store
        self.visit = visit
        self.reconciliation = reconciliation
        self.catalogue = catalogue
        self.clock = clock

    # --- the message log ------------------------------------------------------------------
    def _record(self, env: Envelope, digest: str, output: Mapping[str, Any] | None,
                mdtrt_id: str | None = None, chrg_bchno: str | None = None) -> None:
        """Keep the envelope by msgid: a repeat gets ``output`` again (None: still open)."""
        message = self._message(env, digest, output, mdtrt_id, chrg_bchno)
        with self.store.write() as tx:
            if not tx.add_national_message(message) and output is not None:
                tx.set_national_answer(env.msgid, message.answer or "")

    def _message(self, env: Envelope, digest: str, output: Mapping[str, Any] | None,
                 mdtrt_id: str | None, chrg_bchno: str | None) -> MessageRecord:
        return MessageRecord(
            msgid=env.msgid,
            institution_code=env.fixmedins_code,
            infno=env.infno,
            content_hash=digest,
            mdtrt_id=mdtrt_id,
            chrg_bchno=chrg_bchno,
            answer=None if output is None else json.dumps(output, ensure_ascii=False),
            reversal=None,
            reversed_by=None,
            received_at=self.clock(),
        )

    def _answered(self, msgid: str, output: Mapping[str, Any]) -> None:
        with self.store.write() as tx:
            tx.set_national_answer(msgid, json.dumps(output, ensure_ascii=False))

    # --- checks ---------------------------------------------------------------------------
    def _own_visit(self, env: Envelope, mdtrt_id: str) -> tuple[VisitView, VisitRecord]:
        """The caller's visit, not reversed, with the envelope's home region."""
        view = self.visit.visit(mdtrt_id, env.fixmedins_code)  # NotFound / Forbidden
        with self.store.read() as tx:
            registration = tx.registration(mdtrt_id)
            record = tx.visit(mdtrt_id)
        assert record is not None
        if registration is not None and registration.reversal is not None:
            raise Conflict("VISIT_REVERSED", f"the registration of {mdtrt_id} was reversed (2601)")
        self._same_home(env, view.home_region)
        return view, record

    def _same_home(self, env: Envelope, home_region: str) -> None:
        if env.insuplc_admdvs is not None and env.insuplc_admdvs != home_region:
            raise InvalidInput(
                "INSUPLC_MISMATCH",
                f"insuplc_admdvs {env.insuplc_admdvs} is not the person's insured region "
                f"{home_region} (ask 1101)",
                field="insuplc_admdvs",
            )

    def _same_person(self, obj: Mapping[str, Any], pseudonym: str, where: str = "") -> None:
        """psn_no, when sent, must be the one tongban handed out for this person."""
        psn_no = f.text(obj, "psn_no", required=False, max_length=64, where=where)
        if psn_no is not None and psn_no != f.psn_no_of(pseudonym):
            raise InvalidInput("PSN_NO_MISMATCH", f"{where}psn_no is not this visit's person",
                               field=f"{where}psn_no")
