"""2601 冲正: undo a transaction by its original msgid, typically after the hospital timed out.

A reversed settlement ends cancelled (it had settled) or voided (the home region never
committed it); a reversed msgid this node never saw is kept as a tombstone, so the original,
arriving late, is refused instead of settling. When the home region is away the reversal is
kept PENDING and completed by recovery (``finish_reversals``), never dropped.
"""

from __future__ import annotations

from typing import Any

from tongban.domain import national_fields as f
from tongban.domain.national import Envelope
from tongban.errors import Conflict, InvalidInput, MessageRejected, TongbanError, Unavailable
from tongban.service_layer.national.base import NationalBase
from tongban.service_layer.national.ports import MessageRecord
from tongban.service_layer.records import VisitStatus

SETTLES, UPLOADS, REGISTRATIONS = ("2207", "2304"), ("2204", "2301"), ("2201", "2401")
REVERSIBLE = SETTLES + UPLOADS + REGISTRATIONS
_DONE = (VisitStatus.CANCELLED, VisitStatus.VOIDED, VisitStatus.REFUSED)


class ReversalTransactions(NationalBase):
    def reverse(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        omsgid = f.required_text(data, "omsgid", max_length=30, where="data.")
        oinfno = f.required_text(data, "oinfno", max_length=8, where="data.")
        if oinfno not in REVERSIBLE:
            raise InvalidInput("REVERSAL_NOT_SUPPORTED", f"2601 reverses {', '.join(REVERSIBLE)}"
                               f"; {oinfno} is undone by its own cancel transaction",
                               field="data.oinfno")
        with self.store.read() as tx:
            original = tx.national_message(omsgid)
        if original is None:
            if not omsgid.startswith(env.fixmedins_code):
                raise InvalidInput("OMSGID_NOT_YOURS", "omsgid starts with the institution code",
                                   field="data.omsgid")
            if not self._tombstone(env, omsgid, oinfno):  # the original, a moment ahead
                with self.store.read() as tx:
                    original = tx.national_message(omsgid)
        if original is not None:
            if original.institution_code != env.fixmedins_code:
                raise InvalidInput("OMSGID_NOT_YOURS", "omsgid was not sent by this institution",
                                   field="data.omsgid")
            if original.infno != oinfno:
                raise InvalidInput("OINFNO_MISMATCH", f"{omsgid} was a {original.infno}, not "
                                   f"{oinfno}", field="data.oinfno")
            if original.reversal != "DONE":
                with self.store.write() as tx:
                    tx.set_national_reversal(omsgid, "PENDING", env.msgid)
                self._carry_out(original)
        self._record(env, digest, {})
        return {}

    def finish_reversals(self) -> list[str]:
        """Complete the reversals left PENDING while a home region was away (run by recovery);
        returns the msgids now reversed."""
        with self.store.read() as tx:
            pending = tx.pending_reversals()
        done = []
        for message in pending:
            try:
                self._carry_out(message)
            except TongbanError:
                continue
            done.append(message.msgid)
        return done

    def _carry_out(self, original: MessageRecord) -> None:
        if original.infno in SETTLES:
            self._reverse_settlement(original.msgid, original.institution_code)
        elif original.infno in UPLOADS:
            self._reverse_upload(original)
        else:
            self._reverse_registration(original)

    # --- each kind ------------------------------------------------------------------------
    def _reverse_settlement(self, sid: str, institution: str) -> None:
        try:
            view = self.visit.status(sid, institution)
        except TongbanError as exc:
            if exc.code != "SETTLEMENT_NOT_FOUND":
                raise
            with self.store.read() as tx:
                message = tx.national_message(sid)
            # Written down but not settled (yet: the 2207 may be a moment behind): the id is
            # spent at the visit node, atomically, so that it can no longer settle.
            if message is None or message.mdtrt_id is None or self.visit.void_unsent(
                sid, message.mdtrt_id, institution
            ):
                self._done(sid)
                return
            view = self.visit.status(sid, institution)  # the settle won: reverse it
        try:
            if view.status in (VisitStatus.PENDING, VisitStatus.UNKNOWN, VisitStatus.CANCELLING):
                view = self.visit.resolve(sid, institution)
            if view.status is VisitStatus.SETTLED:
                view = self.visit.cancel(sid, institution)
        except (Unavailable, MessageRejected):
            pass
        if view.status not in _DONE:
            raise Unavailable(
                "REVERSAL_PENDING",
                f"the reversal of {sid} is recorded; the home region has not answered yet and "
                "recovery completes it (send 2601 again to learn the outcome)",
            )
        self._done(sid)

    def _reverse_upload(self, original: MessageRecord) -> None:
        mdtrt_id = original.mdtrt_id or ""
        with self.store.read() as tx:
            rows = [d for d in tx.fee_details(mdtrt_id) if d.msgid == original.msgid]
        for batch in sorted({"*" if original.infno == "2301" else d.chrg_bchno for d in rows}):
            self._refuse_if_batch_stands(original, mdtrt_id, batch)
        with self.store.write() as tx:
            tx.delete_fee_details(mdtrt_id, [d.feedetl_sn for d in rows])
            tx.set_national_reversal(original.msgid, "DONE", original.reversed_by or "")
        self._done(original.msgid)

    def _reverse_registration(self, original: MessageRecord) -> None:
        mdtrt_id = original.mdtrt_id or ""
        with self.store.read() as tx:
            batches = {d.chrg_bchno for d in tx.fee_details(mdtrt_id)} | {"*"}
        for batch in sorted(batches):
            self._refuse_if_batch_stands(original, mdtrt_id, batch)
        self._done(original.msgid)

    def _refuse_if_batch_stands(self, original: MessageRecord, mdtrt_id: str, batch: str) -> None:
        with self.store.read() as tx:
            settles = tx.batch_settlements(mdtrt_id, batch)
        for message in settles:
            if message.reversal == "DONE":
                continue
            try:
                status = self.visit.status(message.msgid, original.institution_code).status
            except TongbanError:
                continue
            if status not in _DONE:
                with self.store.write() as tx:  # nothing was reversed after all
                    tx.set_national_reversal(original.msgid, None, None)
                raise Conflict("BATCH_SETTLED", f"settlement {message.msgid} stands on it: "
                               "cancel it (2208) first", setl_id=message.msgid)

    def _tombstone(self, env: Envelope, omsgid: str, oinfno: str) -> bool:
        """Keep a reversed msgid this node has not seen; False when it has, after all."""
        with self.store.write() as tx:
            return tx.add_national_message(MessageRecord(
                msgid=omsgid, institution_code=env.fixmedins_code, infno=oinfno,
                content_hash="", mdtrt_id=None, chrg_bchno=None, answer=None,
                reversal="DONE", reversed_by=env.msgid, received_at=self.clock(),
            ))

    def _done(self, msgid: str) -> None:
        with self.store.write() as tx:
            record = tx.national_message(msgid)
            tx.set_national_reversal(msgid, "DONE", (record.reversed_by if record else "") or "")
