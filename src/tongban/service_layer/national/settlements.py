"""Bills through the national interface: fee details, pre-settle, settle, cancel (2204-2208 and
the inpatient 2301-2305). A settlement's id (setl_id) is the msgid of the 2207/2304 that made
it, so a repeat of that msgid is the same settlement and 2601 finds it by that msgid.

One fee batch (门诊 chrg_bchno; a whole stay for 住院) has at most one standing settlement: a
2207 with a new msgid for a batch already settled is refused, never charged twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tongban.domain import national_fields as f
from tongban.domain.calendar import SHANGHAI
from tongban.domain.catalogue import BillLine, classify
from tongban.domain.identifiers import parse_id_number
from tongban.domain.national import Envelope, fen_of_wire, settlement_output, wire_of_fen
from tongban.domain.policy import MedType
from tongban.errors import Conflict, InvalidInput, NotFound, TongbanError, Unavailable
from tongban.service_layer.commands import PreviewBill, SettleBill
from tongban.service_layer.national.base import NationalBase
from tongban.service_layer.national.ports import FeeDetailRecord
from tongban.service_layer.records import VisitRecord, VisitStatus
from tongban.service_layer.views import SettlementView, VisitView

WHOLE_STAY = "*"  # the batch key of an inpatient stay: every detail uploaded for it
STANDING = (VisitStatus.PENDING, VisitStatus.UNKNOWN, VisitStatus.SETTLED, VisitStatus.CANCELLING)
UNRESOLVED = (VisitStatus.PENDING, VisitStatus.UNKNOWN)


class SettlementTransactions(NationalBase):
    # --- 2204 / 2301 fee details (费用明细上传) ---------------------------------------------
    def upload_fees(self, env: Envelope, digest: str) -> dict[str, Any]:
        inpatient = env.infno == "2301"
        rows = f.rows(env.input, "feedetail")
        details = [f.fee_detail(row, i, batch_required=not inpatient) for i, row in enumerate(rows)]
        mdtrt_id = details[0].mdtrt_id
        if any(d.mdtrt_id != mdtrt_id for d in details):
            raise f.bad("feedetail", "one message uploads the details of one visit (mdtrt_id)")
        if len({d.feedetl_sn for d in details}) != len(details):
            raise f.bad("feedetail", "a feedetl_sn is given twice", "DUPLICATE_FEEDETL_SN")
        view, record = self._own_visit(env, mdtrt_id)
        _kind(view, inpatient)
        for i, row in enumerate(rows):
            self._same_person(row, record.pseudonym, f"feedetail[{i}].")
        catalogue = self.catalogue()
        bill = classify([d.bill_line() for d in details], catalogue)  # AMOUNT_MISMATCH, ...
        now = self.clock()
        batches = {WHOLE_STAY if inpatient else d.chrg_bchno for d in details}
        for batch in sorted(batches):
            self._refuse_if_settled(env, mdtrt_id, batch)
        uploaded = [
            FeeDetailRecord(mdtrt_id, d.feedetl_sn, env.fixmedins_code, d.chrg_bchno, env.msgid,
                            d.code, str(d.quantity), d.unit_price, d.amount, now)
            for d in details
        ]
        with self.store.write() as tx:
            # Rows already there (a repeat, or a racing upload) must be the same rows.
            existed = set(tx.add_fee_details(uploaded))
            if existed:
                stored = {d.feedetl_sn: d for d in tx.fee_details(mdtrt_id)}
                for detail in uploaded:
                    if detail.feedetl_sn in existed and (
                        _content(stored[detail.feedetl_sn]) != _content(detail)
                    ):
                        raise Conflict("FEEDETL_SN_REUSED", f"feedetl_sn {detail.feedetl_sn} "
                                       "was uploaded with other content: reverse that upload "
                                       "(2601) first")
        result = []
        for d, line in zip(details, bill.lines, strict=True):
            item = catalogue.get(d.code)
            result.append(f.fee_result(d.feedetl_sn, line, item.selfpay_ratio if item else None,
                                       item.price_cap if item else None))
        output = {"result": result}
        self._record(env, digest, output, mdtrt_id=mdtrt_id)
        return output

    # --- 2206 / 2303 pre-settle (预结算) ----------------------------------------------------
    def pre_settle(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        view, record, batch, lines, use_account = self._bill(env, data, env.infno == "2303")
        preview = self.visit.preview(PreviewBill(view.visit_id, lines, use_account),
                                     env.fixmedins_code)
        return self._setl_output(view, record, preview.split, batch, None, self.clock())

    # --- 2207 / 2304 settle (结算) ----------------------------------------------------------
    def settle(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        view, record, batch, lines, use_account = self._bill(env, data, env.infno == "2304")
        self._refuse_if_settled(env, view.visit_id, batch)
        self._claim(env, digest, view.visit_id, batch)
        try:
            settled = self.visit.settle(
                SettleBill(env.msgid, view.visit_id, lines, use_account), env.fixmedins_code
            )
        except TongbanError:
            self._refuse_if_reversed(env.msgid)
            raise
        if settled.status is not VisitStatus.SETTLED or settled.split is None:
            self._refuse_if_reversed(env.msgid)
            raise _open(settled)
        output = self._setl_output(view, record, settled.split, batch, env.msgid,
                                   settled.settled_at or self.clock())
        self._answered(env.msgid, output)
        return output

    # --- 2208 / 2305 cancel (结算撤销) ------------------------------------------------------
    def cancel(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        setl_id = f.required_text(data, "setl_id", max_length=64, where="data.")
        mdtrt_id = f.required_text(data, "mdtrt_id", max_length=40, where="data.")
        _view, record = self._own_visit(env, mdtrt_id)
        self._same_person(data, record.pseudonym, "data.")
        current = self.visit.status(setl_id, env.fixmedins_code)
        if current.visit_id != mdtrt_id:
            raise InvalidInput("SETTLEMENT_NOT_OF_VISIT", f"{setl_id} is not a settlement of "
                               f"visit {mdtrt_id}", field="data.setl_id")
        cancelled = self.visit.cancel(setl_id, env.fixmedins_code)
        if cancelled.status is not VisitStatus.CANCELLED:
            raise _open(cancelled)
        output = {"setlinfo": _reversed_amounts(cancelled, record, self.clock())}
        self._record(env, digest, output, mdtrt_id=mdtrt_id)
        return output

    # --- helpers --------------------------------------------------------------------------
    def _bill(self, env: Envelope, data: Mapping[str, Any], inpatient: bool
              ) -> tuple[VisitView, VisitRecord, str, tuple[BillLine, ...], bool]:
        """The visit and the stored lines of the batch a pre-settle or settle names."""
        mdtrt_id = f.required_text(data, "mdtrt_id", max_length=40, where="data.")
        view, record = self._own_visit(env, mdtrt_id)
        _kind(view, inpatient)
        self._same_person(data, record.pseudonym, "data.")
        id_number = f.certificate(data, "data.")
        if id_number is not None and self.visit.pseudonym_of(
            parse_id_number(id_number).number
        ) != record.pseudonym:
            raise InvalidInput("CERT_MISMATCH", "data.mdtrt_cert_no is not this visit's person",
                               field="data.mdtrt_cert_no")
        kind = f.med_type(data, where="data.")
        if kind is not None and kind[0].value != view.med_type:
            raise f.bad("data.med_type", f"{kind[2]} does not fit a {view.med_type} visit",
                        "MED_TYPE_MISMATCH")
        if kind is not None and kind[1] and not view.emergency:
            view = self.visit.mark_emergency(mdtrt_id, env.fixmedins_code)
        insutype = f.text(data, "insutype", required=False, max_length=3, where="data.")
        if insutype is not None and insutype != record.insutype:
            raise InvalidInput("INSUTYPE_MISMATCH", f"data.insutype {insutype} is not the "
                               f"person's ({record.insutype})", field="data.insutype")
        batch = WHOLE_STAY if inpatient else f.serial(data, "chrg_bchno", "data.")
        with self.store.read() as tx:
            details = [d for d in tx.fee_details(mdtrt_id)
                       if inpatient or d.chrg_bchno == batch]
        if not details:
            raise InvalidInput("NO_FEE_DETAILS", f"no fee details uploaded for {mdtrt_id}"
                               + ("" if inpatient else f" batch {batch}") + " (2204/2301 first)")
        total = sum(d.amount for d in details)
        if "medfee_sumamt" in data:
            sent = fen_of_wire(data.get("medfee_sumamt"), "data.medfee_sumamt")
            if sent != total:
                raise InvalidInput("AMOUNT_MISMATCH", f"data.medfee_sumamt {wire_of_fen(sent)} "
                                   f"is not the uploaded details' {wire_of_fen(total)}",
                                   field="data.medfee_sumamt")
        lines = tuple(BillLine(d.code, Decimal(d.quantity), d.unit_price, d.amount)
                      for d in details)
        return view, record, batch, lines, f.flag(data, "acct_used_flag", default=True)

    def _refuse_if_settled(self, env: Envelope, mdtrt_id: str, batch: str) -> None:
        """A batch with a standing settlement of another msgid is not settled (or changed)
        again. One whose commit went unanswered (UNKNOWN) is first asked after; one still in
        flight (PENDING) is left alone, as recovery leaves it: asking the home now would void
        a settle that is about to land."""
        with self.store.read() as tx:
            earlier = [m for m in tx.batch_settlements(mdtrt_id, batch) if m.msgid != env.msgid]
        unresolved = Unavailable("BATCH_UNRESOLVED", "an earlier settlement of this batch waits "
                                 "on the home region: retry it, or reverse it (2601)")
        for message in earlier:
            if message.reversal is not None:
                continue  # reversed (or being reversed): it will not stand
            try:
                view = self.visit.status(message.msgid, env.fixmedins_code)
            except NotFound:
                continue  # the node crashed before the settlement was written
            if view.status is VisitStatus.PENDING:
                raise unresolved
            if view.status in (VisitStatus.UNKNOWN, VisitStatus.CANCELLING):
                try:
                    view = self.visit.resolve(message.msgid, env.fixmedins_code)
                except TongbanError:
                    raise unresolved from None
            if view.status in STANDING:
                raise Conflict("BATCH_SETTLED", f"this batch is settled as {message.msgid}: "
                               "cancel it (2208) before settling again", setl_id=message.msgid)

    def _claim(self, env: Envelope, digest: str, mdtrt_id: str, batch: str) -> None:
        """Write the 2207 down as the batch's one open settlement, or refuse: decided under the
        visit's lock, so two 2207s with different msgids racing for one batch cannot both
        settle. Kept before the home region is asked: a 2601 of this msgid finds it whatever
        happens next, and a crash after it leaves an open message and no money moved."""
        message = self._message(env, digest, None, mdtrt_id, batch)
        with self.store.write() as tx:
            tx.lock_visit(mdtrt_id)
            for other in tx.batch_settlements(mdtrt_id, batch):
                if other.msgid == env.msgid or other.reversal is not None:
                    continue
                stored = tx.visit_settlement(other.msgid)
                if stored is None or VisitStatus(stored.status) in UNRESOLVED:
                    raise Unavailable("BATCH_UNRESOLVED", f"settlement {other.msgid} of this "
                                      "batch is not resolved yet: retry it, or reverse it (2601)")
                if VisitStatus(stored.status) in STANDING:
                    raise Conflict("BATCH_SETTLED", f"this batch is settled as {other.msgid}: "
                                   "cancel it (2208) before settling again", setl_id=other.msgid)
            if not tx.add_national_message(message):  # the same msgid, a moment earlier
                earlier = tx.national_message(env.msgid)
                if earlier is not None and earlier.reversal is not None:
                    raise _reversed(env.msgid)

    def _refuse_if_reversed(self, msgid: str) -> None:
        """A settle that did not stand because a 2601 reversed it says so."""
        with self.store.read() as tx:
            message = tx.national_message(msgid)
        if message is not None and message.reversal is not None:
            raise _reversed(msgid)

    def _setl_output(self, view: VisitView, record: VisitRecord, split: Mapping[str, Any],
                     batch: str, setl_id: str | None, moment: datetime) -> dict[str, Any]:
        kind = MedType(view.med_type)
        extra = {
            "setl_id": setl_id or "",
            "mdtrt_id": view.visit_id,
            "psn_no": f.psn_no_of(record.pseudonym),
            "psn_name": view.masked_name,
            "certno": view.masked_id,
            "med_type": "13" if view.emergency and kind is MedType.OUTPATIENT
            else f.DEFAULT_MED_TYPE[kind],
            "setl_time": f.national_time(moment.astimezone(SHANGHAI)),
            "insuplc_admdvs": view.home_region,
            "mdtrtarea_admvs": self.region,
            "chrg_bchno": "" if batch == WHOLE_STAY else batch,
        }
        out = settlement_output(split, clr_optins=self.region, insutype=view.insutype,
                                clr_type=f.CLR_TYPE[kind], extra=extra)
        return {"setlinfo": out, "setldetail": out.pop("setldetail")}


def _kind(view: VisitView, inpatient: bool) -> None:
    wanted = MedType.INPATIENT if inpatient else MedType.OUTPATIENT
    if view.med_type != wanted.value:
        hint = "2301-2305 serve inpatient stays" if not inpatient else "2204-2208 serve outpatients"
        raise InvalidInput("MED_TYPE_MISMATCH", f"visit {view.visit_id} is {view.med_type}: {hint}",
                           field="mdtrt_id")


def _reversed(msgid: str) -> Conflict:
    return Conflict("MSGID_REVERSED", f"{msgid} was reversed (2601): send a new msgid")


def _content(row: FeeDetailRecord) -> tuple[Any, ...]:
    return (row.chrg_bchno, row.code, row.quantity, row.unit_price, row.amount)


def _open(view: SettlementView) -> TongbanError:
    """A settle or cancel whose home region has not answered: not a failure, not final."""
    if view.status in (VisitStatus.UNKNOWN, VisitStatus.PENDING):
        return Unavailable(
            "SETTLEMENT_UNKNOWN",
            f"{view.settlement_id}: the home region {view.home_region} did not answer; send the "
            "same message again (same msgid) to learn the outcome, or reverse it with 2601",
            setl_id=view.settlement_id,
        )
    if view.status is VisitStatus.CANCELLING:
        return Unavailable(
            "CANCEL_PENDING",
            f"{view.settlement_id}: the cancel is recorded and completes when the home region "
            "answers; send it again to learn the outcome",
            setl_id=view.settlement_id,
        )
    return Conflict("NOT_SETTLED", f"{view.settlement_id} is {view.status.value}")


def _reversed_amounts(view: SettlementView, record: VisitRecord, moment: datetime
                      ) -> dict[str, Any]:
    """2208's answer: the cancelled settlement's amounts negated (the refund row)."""
    split = view.split or {}
    out: dict[str, Any] = {
        "setl_id": view.settlement_id,
        "mdtrt_id": view.visit_id,
        "psn_no": f.psn_no_of(record.pseudonym),
        "refd_setl_flag": "1",
        "setl_time": f.national_time((view.cancelled_at or moment).astimezone(SHANGHAI)),
    }
    for name in ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_part_amt", "psn_cash_pay"):
        out[name] = wire_of_fen(-int(split.get(name, 0)))
    out["fund_pay_sumamt"] = out["hifp_pay"]
    return out
