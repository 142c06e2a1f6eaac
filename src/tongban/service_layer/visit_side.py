"""The visit node (就医地): the hospital-facing use cases and the settlement protocol.

settle: write the settlement PENDING with the exact commit body (the outbox), ask the home
node to commit, then mark it SETTLED. No answer → UNKNOWN, persisted. Recovery resends the
same body when the hospital retries the id, and asks the home node to *resolve* the id on a
schedule and at start-up (the home node then either reports the commit or voids the id for
good), so both sides always end in the same state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from tongban.domain.calendar import local_date
from tongban.domain.catalogue import BillLine, ClassifiedBill, classify
from tongban.domain.ledger import EventKind, Transfer, visit_postings
from tongban.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MessageRejected,
    NotFound,
    Refused,
    TongbanError,
    Unavailable,
)
from tongban.service_layer import wire
from tongban.service_layer.commands import PreviewBill, SettleBill
from tongban.service_layer.ports import NodeTx
from tongban.service_layer.records import (
    InstitutionRecord,
    VisitRecord,
    VisitSettlementRecord,
    VisitStatus,
)
from tongban.service_layer.views import Preview, RecoveryReport, SettlementView
from tongban.service_layer.visit_registration import VisitRegistration

RECOVERY_GRACE = timedelta(seconds=30)  # scheduled recovery leaves in-flight settlements alone
# The states a peer's answer may move a settlement from: a commit's outcome lands only on a
# settlement still waiting for it; a cancel's on one not cancelled yet.
IN_FLIGHT = (VisitStatus.PENDING, VisitStatus.UNKNOWN)
NOT_CANCELLED = (*IN_FLIGHT, VisitStatus.SETTLED, VisitStatus.CANCELLING)


class VisitSide(VisitRegistration):
    """The hospital-facing use cases of a visit node: registration (VisitRegistration),
    then preview, settle, cancel, status and recovery."""

    # --- preview (预结算) ------------------------------------------------------------------
    def preview(self, command: PreviewBill, acting_for: str) -> Preview:
        with self.store.read() as tx:
            visit = self._own_visit(tx, command.visit_id, acting_for)
        institution = self._enabled_institution(visit.institution_code)
        bill = classify(command.lines, self.catalogue())
        body = self._commit_body(
            visit, institution, bill, command.use_account, "", local_date(self.clock())
        )
        result = self.caller.call(visit.home_region, "quote", body)
        return Preview(
            visit_id=visit.visit_id,
            split=result["split"],
            filing=str(result.get("filing", "")),
            lines=[wire.line_to_json(line) for line in bill.lines],
        )

    # --- settle (结算) ---------------------------------------------------------------------
    def settle(self, command: SettleBill, acting_for: str) -> SettlementView:
        settlement_id = _settlement_id(command.settlement_id)
        digest = wire.content_hash(
            {
                "visit_id": command.visit_id,
                "use_account": command.use_account,
                "lines": [_line_json(line) for line in command.lines],
            }
        )
        with self.store.read() as tx:
            existing = tx.visit_settlement(settlement_id)
            visit = None if existing else self._own_visit(tx, command.visit_id, acting_for)
        if existing is not None:
            return self._retry(existing, digest, acting_for)
        assert visit is not None
        institution = self._enabled_institution(visit.institution_code)
        bill = classify(command.lines, self.catalogue())  # bad lines change nothing
        now = self.clock()
        settled_on = local_date(now)
        body = self._commit_body(
            visit, institution, bill, command.use_account, settlement_id, settled_on
        )
        commit_body = json.dumps(body, ensure_ascii=False)
        record = VisitSettlementRecord(
            settlement_id=settlement_id,
            visit_id=visit.visit_id,
            institution_code=visit.institution_code,
            home_region=visit.home_region,
            insutype=visit.insutype,
            status=VisitStatus.PENDING,
            content_hash=digest,
            commit_body=commit_body,
            lines=json.dumps([wire.line_to_json(line) for line in bill.lines], ensure_ascii=False),
            medfee_sumamt=bill.medfee_sumamt,
            settled_on=settled_on,
            created_at=now,
        )
        with self.store.write() as tx:
            inserted = tx.insert_visit_settlement(record)
            if inserted:
                tx.outbox_add(settlement_id, visit.home_region, "commit", commit_body, now)
            else:
                existing = tx.visit_settlement(settlement_id)
        if not inserted:  # a concurrent request with the same id won the insert
            assert existing is not None
            return self._retry(existing, digest, acting_for)
        return self._send_commit(record)

    def _retry(self, record: VisitSettlementRecord, digest: str, acting_for: str) -> SettlementView:
        """Same id again: same content gives the same outcome; different content is refused."""
        if record.institution_code != acting_for:
            raise Forbidden(
                "INSTITUTION_MISMATCH", "this settlement belongs to another institution"
            )
        status = VisitStatus(record.status)
        if status is VisitStatus.VOIDED and not record.content_hash:
            raise Conflict("SETTLEMENT_VOIDED", "this id was voided before it was settled")
        if record.content_hash != digest:
            raise Conflict("ID_REUSED", "this settlement id was used with different content")
        if status in (VisitStatus.PENDING, VisitStatus.UNKNOWN):
            return self._send_commit(record)
        if status is VisitStatus.REFUSED:
            raise Refused(str(record.error_code), str(record.error_detail or record.error_code))
        if status is VisitStatus.VOIDED:
            raise Conflict("SETTLEMENT_VOIDED", "voided by recovery: settle with a new id")
        return SettlementView.of(record)

    def _send_commit(self, record: VisitSettlementRecord) -> SettlementView:
        body = json.loads(record.commit_body)
        sid = record.settlement_id
        try:
            result = self.caller.call(record.home_region, "commit", body)
        except (Unavailable, MessageRejected):
            return self._mark(sid, "commit", "UNKNOWN", IN_FLIGHT, status=VisitStatus.UNKNOWN)
        except TongbanError as exc:  # the home answered no: final for this id
            voided = exc.code == "SETTLEMENT_VOIDED"
            status = VisitStatus.VOIDED if voided else VisitStatus.REFUSED
            self._mark(
                sid,
                "commit",
                exc.code,
                IN_FLIGHT,
                status=status,
                error_code=exc.code,
                error_detail=exc.detail,
            )
            raise
        return self._apply_home_state(sid, result)

    def _apply_home_state(self, sid: str, result: Mapping[str, Any]) -> SettlementView:
        split = result.get("split")
        values: dict[str, Any] = {}
        if split:
            values = {
                "split": json.dumps(split),
                "hifp_pay": split["hifp_pay"],
                "acct_pay": split["acct_pay"],
                "psn_cash_pay": split["psn_cash_pay"],
                # The home's commit time: racing requests for one id all record the same.
                "settled_at": _moment(result.get("committed_at")) or self.clock(),
            }
        home_status = result.get("status")
        if home_status == "COMMITTED":
            return self._mark(
                sid, "commit", "COMMITTED", IN_FLIGHT, status=VisitStatus.SETTLED, **values
            )
        if home_status == "CANCELLED":
            return self._mark(
                sid,
                "cancel",
                "CANCELLED",
                NOT_CANCELLED,
                status=VisitStatus.CANCELLED,
                cancelled_at=_moment(result.get("cancelled_at")) or self.clock(),
                **values,
            )
        if home_status == "REFUSED":
            return self._mark(
                sid,
                "commit",
                "REFUSED",
                IN_FLIGHT,
                status=VisitStatus.REFUSED,
                error_code=result.get("error_code"),
            )
        return self._mark(
            sid,
            "commit",
            "ABORTED",
            IN_FLIGHT,
            status=VisitStatus.VOIDED,
            error_code="SETTLEMENT_VOIDED",
        )

    # --- cancel (结算撤销) ------------------------------------------------------------------
    def cancel(self, settlement_id: str, acting_for: str) -> SettlementView:
        now = self.clock()
        with self.store.write() as tx:
            record = self._own_settlement(tx, settlement_id, acting_for)
            status = VisitStatus(record.status)
            if status is VisitStatus.SETTLED:
                tx.update_visit_settlement(settlement_id, status=VisitStatus.CANCELLING)
                tx.outbox_add(
                    settlement_id,
                    record.home_region,
                    "cancel",
                    json.dumps(self._cancel_body(record, now)),
                    now,
                )
            elif status is VisitStatus.CANCELLED:
                return SettlementView.of(record)
            elif status is not VisitStatus.CANCELLING:
                raise Conflict(
                    "NOT_SETTLED", f"{settlement_id} is {status.value}: nothing to cancel"
                )
        return self._send_cancel(record, now)

    def _cancel_body(self, record: VisitSettlementRecord, now: datetime) -> dict[str, Any]:
        return {"settlement_id": record.settlement_id, "cancelled_on": local_date(now).isoformat()}

    def _send_cancel(self, record: VisitSettlementRecord, now: datetime) -> SettlementView:
        sid = record.settlement_id
        try:
            result = self.caller.call(record.home_region, "cancel", self._cancel_body(record, now))
        except (Unavailable, MessageRejected):
            return self._mark(
                sid, "cancel", "UNKNOWN", (VisitStatus.CANCELLING,), status=VisitStatus.CANCELLING
            )
        # The home's cancel time, so both sides put the cancel in the same clearing period.
        cancelled_at = _moment(result.get("cancelled_at")) or self.clock()
        return self._mark(
            sid,
            "cancel",
            "CANCELLED",
            (VisitStatus.CANCELLING,),
            status=VisitStatus.CANCELLED,
            cancelled_at=cancelled_at,
        )

    # --- status and recovery ---------------------------------------------------------------
    def status(self, settlement_id: str, acting_for: str) -> SettlementView:
        with self.store.read() as tx:
            return SettlementView.of(self._own_settlement(tx, settlement_id, acting_for))

    def recover(self, everything: bool = False) -> RecoveryReport:
        """Resolve every PENDING/UNKNOWN/CANCELLING settlement with its home node.

        At start-up ``everything=True`` (nothing can be in flight); on a schedule only those
        older than the grace period, so an in-flight commit is not voided under its feet.
        """
        cutoff = None if everything else self.clock() - RECOVERY_GRACE
        with self.store.read() as tx:
            ids = tx.unresolved_settlements(cutoff)
        report = RecoveryReport()
        for sid in ids:
            with self.store.read() as tx:
                record = tx.visit_settlement(sid)
            assert record is not None
            try:
                if VisitStatus(record.status) is VisitStatus.CANCELLING:
                    view = self._send_cancel(record, self.clock())
                else:
                    view = self._resolve(sid, record.home_region)
            except TongbanError:
                report.still_unknown.append(sid)
                continue
            bucket = {
                VisitStatus.SETTLED: report.settled,
                VisitStatus.VOIDED: report.voided,
                VisitStatus.REFUSED: report.refused,
                VisitStatus.CANCELLED: report.cancelled,
            }.get(view.status, report.still_unknown)
            bucket.append(sid)
        return report

    def resolve(self, settlement_id: str, acting_for: str) -> SettlementView:
        """Ask the home region now how an unresolved settlement ended (settled or voided); a
        resolved one is returned as it is. Raises ``Unavailable`` when the home is away."""
        with self.store.read() as tx:
            record = self._own_settlement(tx, settlement_id, acting_for)
        status = VisitStatus(record.status)
        if status is VisitStatus.CANCELLING:
            return self._send_cancel(record, self.clock())
        if status not in (VisitStatus.PENDING, VisitStatus.UNKNOWN):
            return SettlementView.of(record)
        return self._resolve(settlement_id, record.home_region)

    def void_unsent(self, settlement_id: str, visit_id: str, acting_for: str) -> bool:
        """Spend an id no settlement has been written for yet (a reversal overtook its settle):
        a settle with it is refused from now on. Nothing was sent home, so nothing is undone
        there. False when a settlement with this id exists: it won the race and stands."""
        sid = _settlement_id(settlement_id)
        now = self.clock()
        with self.store.write() as tx:
            visit = self._own_visit(tx, visit_id, acting_for)
            return tx.insert_visit_settlement(
                VisitSettlementRecord(
                    settlement_id=sid,
                    visit_id=visit.visit_id,
                    institution_code=visit.institution_code,
                    home_region=visit.home_region,
                    insutype=visit.insutype,
                    status=VisitStatus.VOIDED,
                    content_hash="",  # no content: any settle with this id is refused
                    commit_body="",
                    lines="[]",
                    medfee_sumamt=0,
                    settled_on=local_date(now),
                    created_at=now,
                    error_code="SETTLEMENT_VOIDED",
                    error_detail="reversed before it was settled",
                )
            )

    def _resolve(self, sid: str, home_region: str) -> SettlementView:
        # The home keys ids by visit region: it always answers for this region's own id.
        result = self.caller.call(home_region, "resolve", {"settlement_id": sid})
        return self._apply_home_state(sid, result)

    # --- helpers --------------------------------------------------------------------------
    def _mark(
        self,
        sid: str,
        kind: str,
        outcome: str,
        allowed: tuple[VisitStatus, ...],
        **values: Any,
    ) -> SettlementView:
        """Record a peer's answer: the new state only from one of the ``allowed`` states, so a
        late answer (a commit answered after recovery settled and a cancel cancelled the id)
        never takes a settlement back; the settlement as it now stands is returned."""
        now = self.clock()
        with self.store.write() as tx:
            moved = tx.update_visit_settlement_from(sid, allowed, **values)
            tx.outbox_answered(sid, kind, outcome, now)
            record = tx.visit_settlement(sid)
            assert record is not None
            # The money moves in the same transaction as the state that moves it (transfer
            # ids make a repeat a no-op); UNKNOWN, CANCELLING or REFUSED move none.
            if moved and values.get("status") in (VisitStatus.SETTLED, VisitStatus.CANCELLED):
                tx.post(visit_postings_for(record), now)
        return SettlementView.of(record)

    def _commit_body(
        self,
        visit: VisitRecord,
        institution: InstitutionRecord,
        bill: ClassifiedBill,
        use_account: bool,
        settlement_id: str,
        settled_on: date,
    ) -> dict[str, Any]:
        return {
            "settlement_id": settlement_id,
            "pseudonym": visit.pseudonym,
            "med_type": visit.med_type,
            "level": institution.level,
            "institution_code": institution.code,
            "settled_on": settled_on.isoformat(),
            "emergency": visit.emergency,
            "pieces": wire.pieces_to_json(bill.pieces),
            "use_account": use_account,
        }

    def _own_settlement(self, tx: NodeTx, sid: str, acting_for: str) -> VisitSettlementRecord:
        record = tx.visit_settlement(sid)
        if record is None:
            raise NotFound("SETTLEMENT_NOT_FOUND", f"no settlement {sid!r} at this node")
        if record.institution_code != acting_for:
            raise Forbidden(
                "INSTITUTION_MISMATCH", "this settlement belongs to another institution"
            )
        return record

def _settlement_id(raw: str) -> str:
    if not raw or len(raw) > 64 or not all(c.isalnum() or c in "-_." for c in raw):
        raise InvalidInput(
            "INVALID_SETTLEMENT_ID", "a settlement id is 1-64 letters, digits, '-', '_' or '.'"
        )
    return raw


def _line_json(line: BillLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "quantity": str(line.quantity.normalize()),
        "unit_price": line.unit_price,
        "amount": line.amount,
    }


def visit_postings_for(record: VisitSettlementRecord) -> list[Transfer]:
    """The ledger transfers a visit settlement in this state has made (DESIGN §4.6)."""
    status = VisitStatus(record.status)
    if status not in (VisitStatus.SETTLED, VisitStatus.CANCELLING, VisitStatus.CANCELLED):
        return []
    events = [EventKind.SETTLE] + ([EventKind.CANCEL] if status is VisitStatus.CANCELLED else [])
    return [
        transfer
        for event in events
        for transfer in visit_postings(
            record.settlement_id,
            event,
            record.home_region,
            record.institution_code,
            record.hifp_pay or 0,
            record.acct_pay or 0,
        )
    ]


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
