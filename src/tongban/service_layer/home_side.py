"""The home node (参保地): answers for its own insured with its own policy.

Every state change (commit, cancel, resolve) happens in one transaction together with the
durable record of the inbound message, so a replay or a duplicate can never charge twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from tongban.domain.calendar import local_date
from tongban.domain.filing import Filing, FilingKind, validity_end, visit_categories
from tongban.domain.identifiers import (
    institution_region,
    mask_id_number,
    parse_id_number,
    parse_region_code,
)
from tongban.domain.ledger import EventKind, Transfer, home_postings
from tongban.domain.policy import (
    FilingCategory,
    MedType,
    PersonState,
    Policy,
    best_category,
    commit_delta,
    compute_split,
)
from tongban.errors import Conflict, Forbidden, InvalidInput, NotFound, Refused, TongbanError
from tongban.service_layer import wire
from tongban.service_layer.commands import FileRecord, RevokeFiling
from tongban.service_layer.ports import Clock, Message, NodeStore, NodeTx, PolicyTable
from tongban.service_layer.records import (
    FilingRecord,
    HomeSettlementRecord,
    HomeStatus,
    PersonRecord,
)

COMMITMENT_TEXT = (
    "本人承诺所填异地就医备案信息真实有效，如有虚假愿承担相应责任。"
    " I declare the information in this cross-region filing is true."
)


def mask_name(name: str) -> str:
    """张三丰 -> 张*丰, 李四 -> 李*: enough for a counter clerk to recognise, no more."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def as_filing(record: FilingRecord) -> Filing:
    return Filing(
        filing_id=record.filing_id,
        kind=FilingKind(record.kind),
        target_region=record.target_region,
        start_date=record.start_date,
        end_date=record.end_date,
        revoked_on=record.revoked_on,
    )


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """A validated commit/quote body from a visit node."""

    settlement_id: str
    pseudonym: str
    med_type: MedType
    level: int
    institution_code: str
    settled_on: date
    emergency: bool
    pieces: Any
    use_account: bool

    @staticmethod
    def parse(body: Mapping[str, Any], needs_id: bool) -> CommitRequest:
        try:
            level = int(body["level"])
            if level not in (1, 2, 3):
                raise ValueError("level must be 1, 2 or 3")
            return CommitRequest(
                settlement_id=str(body["settlement_id"]) if needs_id else "",
                pseudonym=str(body["pseudonym"]),
                med_type=MedType(body["med_type"]),
                level=level,
                institution_code=str(body["institution_code"]),
                settled_on=date.fromisoformat(body["settled_on"]),
                emergency=bool(body["emergency"]),
                pieces=wire.pieces_from_json(body["pieces"]),
                use_account=bool(body["use_account"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInput("BAD_MESSAGE", f"malformed settlement message: {exc}") from None


class HomeSide:
    def __init__(
        self,
        region: str,
        store: NodeStore,
        policies: PolicyTable,
        pseudonym_of: Callable[[str], str],
        clock: Clock,
    ) -> None:
        self.region = region
        self.store = store
        self.policies = policies
        self.pseudonym_of = pseudonym_of
        self.clock = clock

    # --- messages from visit nodes ---------------------------------------------------------
    def person_info(self, message: Message) -> dict[str, Any]:
        body = message.body
        try:
            visit_date = date.fromisoformat(str(body.get("visit_date")))
        except ValueError:
            raise InvalidInput("BAD_MESSAGE", "visit_date must be a date (YYYY-MM-DD)") from None
        with self.store.read() as tx:
            person = self._insured(tx, str(body.get("pseudonym")))
            filings = [as_filing(f) for f in tx.filings_of(person.person_id)]
        categories = visit_categories(
            filings, message.sender, visit_date, bool(body.get("emergency"))
        )
        return {
            "insutype": person.insutype,
            "masked_name": mask_name(person.name),
            "masked_id": mask_id_number(person.id_number),
            "filed": sorted(c.value for c in categories),
            # Shown at the counter (national 1101 insuinfo.balc), as the home platform does.
            "account_balance": person.account_balance,
        }

    def quote(self, message: Message) -> dict[str, Any]:
        """What this bill would pay now; changes nothing."""
        request = CommitRequest.parse(message.body, needs_id=False)
        _own_institution(request, message.sender)
        with self.store.read() as tx:
            person = self._insured(tx, request.pseudonym)
            split, _policy, category = self._split(tx, person, request, message.sender)
        return {"split": wire.split_to_json(split), "filing": category.value}

    def commit(self, message: Message) -> dict[str, Any]:
        request = CommitRequest.parse(message.body, needs_id=True)
        _own_institution(request, message.sender)
        digest = wire.content_hash(message.body)
        refusal: TongbanError | None = None
        with self.store.write() as tx:
            tx.log_inbound(message.msgid, message.sender, message.kind, self.clock())
            person = tx.person_by_pseudonym(request.pseudonym)  # row-locked on PostgreSQL
            now = self.clock()  # after the lock: commit times follow the serial order
            existing = tx.home_settlement(message.sender, request.settlement_id)
            if existing is not None:
                return self._repeat(existing, digest)
            record = HomeSettlementRecord(
                settlement_id=request.settlement_id,
                visit_region=message.sender,
                status=HomeStatus.REFUSED,
                institution_code=request.institution_code,
                person_id=person.person_id if person else None,
                content_hash=digest,
                settled_on=request.settled_on,
                committed_at=now,
            )
            delta = None
            try:
                if person is None:
                    raise NotFound("PERSON_NOT_FOUND", f"not insured in {self.region}")
                split, policy, category = self._split(tx, person, request, message.sender)
            except TongbanError as exc:
                refusal = exc
                record = replace(record, error_code=exc.code)
            else:
                delta = commit_delta(split, policy.med_type)
                record = replace(
                    record,
                    status=HomeStatus.COMMITTED,
                    med_type=policy.med_type.value,
                    year=request.settled_on.year,
                    split=json.dumps(wire.split_to_json(split)),
                    delta=wire.delta_to_json(delta),
                    hifp_pay=split.hifp_pay,
                    acct_pay=split.acct_pay,
                    medfee_sumamt=split.medfee_sumamt,
                )
            # Claim the id before any money moves: whoever claimed it first (another region,
            # or a recovery tombstone) decides, and this request gets the answer for that.
            if not tx.claim_home_settlement(record):
                claimed = tx.home_settlement(message.sender, request.settlement_id)
                assert claimed is not None
                return self._repeat(claimed, digest)
            if delta is not None and person is not None and record.year and record.med_type:
                tx.apply_delta(person.person_id, record.year, record.med_type, delta)
                tx.post(_postings(record, EventKind.SETTLE), now)
        if refusal is not None:
            raise refusal
        return {
            "status": HomeStatus.COMMITTED.value,
            "split": wire.split_to_json(split),
            "filing": category.value,
            "committed_at": now.isoformat(),
        }

    def cancel(self, message: Message) -> dict[str, Any]:
        settlement_id = str(message.body.get("settlement_id"))
        now = self.clock()
        with self.store.write() as tx:
            tx.log_inbound(message.msgid, message.sender, message.kind, now)
            # Ids are the hospitals' own: another region's settlement of the same id is simply
            # not this sender's, and is neither found nor touched.
            record = tx.home_settlement(message.sender, settlement_id)
            if record is None:
                raise NotFound("SETTLEMENT_NOT_FOUND", f"{settlement_id} is not known here")
            if record.person_id is not None:
                # Lock the person (the unit of serialisation on PostgreSQL), then read the
                # status again: a cancel that queued on the lock must see the one before it.
                tx.person(record.person_id)
                record = tx.home_settlement(message.sender, settlement_id)
                assert record is not None
                now = self.clock()  # after the lock: cancel times follow the serial order
            if record.status is HomeStatus.COMMITTED:
                assert record.person_id is not None and record.delta and record.year
                delta = wire.delta_from_json(record.delta)
                tx.apply_delta(
                    record.person_id, record.year, str(record.med_type), delta.reversed()
                )
                tx.mark_home_cancelled(message.sender, settlement_id, now)
                tx.post(_postings(record, EventKind.CANCEL), now)
                cancelled_at = now
            elif record.status is HomeStatus.CANCELLED:
                cancelled_at = record.cancelled_at or now
            else:
                raise Conflict("NOT_SETTLED", f"{settlement_id} is {record.status.value}")
        # The cancel's moment decides its clearing period on both sides.
        return {"status": HomeStatus.CANCELLED.value, "cancelled_at": cancelled_at.isoformat()}

    def resolve(self, message: Message) -> dict[str, Any]:
        """Recovery: report the final state of an id; an id never committed is aborted for good."""
        settlement_id = str(message.body.get("settlement_id"))
        now = self.clock()
        with self.store.write() as tx:
            tx.log_inbound(message.msgid, message.sender, message.kind, now)
            record = tx.home_settlement(message.sender, settlement_id)
            if record is None:
                tombstone = HomeSettlementRecord(
                    settlement_id=settlement_id,
                    visit_region=message.sender,
                    status=HomeStatus.ABORTED,
                    committed_at=now,
                )
                # A commit racing this tombstone is settled by whichever claims the id first.
                if tx.claim_home_settlement(tombstone):
                    record = tombstone
                else:
                    record = tx.home_settlement(message.sender, settlement_id)
                    assert record is not None
        return self._state(record)

    def status(self, message: Message) -> dict[str, Any]:
        settlement_id = str(message.body.get("settlement_id"))
        with self.store.read() as tx:
            record = tx.home_settlement(message.sender, settlement_id)
        if record is None:
            return {"status": None}
        return self._state(record)

    # --- residents' filings (备案) ---------------------------------------------------------
    def file(self, command: FileRecord) -> FilingRecord:
        today = local_date(self.clock())
        resident = parse_id_number(command.id_number, today)
        if not command.commitment:
            raise InvalidInput(
                "COMMITMENT_REQUIRED", "filing online needs the personal commitment (承诺制)"
            )
        target = parse_region_code(command.target_region, allow_province=True)
        if target == self.region:
            raise InvalidInput("INVALID_FILING", "a filing names a region away from home")
        try:
            kind = FilingKind(command.kind)
        except ValueError:
            raise InvalidInput("INVALID_FILING", f"unknown filing kind {command.kind!r}") from None
        start = command.start_date or today
        record = FilingRecord(
            filing_id=uuid.uuid4().hex,
            person_id=0,
            kind=kind.value,
            target_region=target,
            start_date=start,
            end_date=validity_end(kind, start, command.months),
            revoked_on=None,
            commitment=COMMITMENT_TEXT,
            created_at=self.clock(),
        )
        with self.store.write() as tx:
            person = tx.person_by_id_number(resident.number)
            if person is None:
                raise NotFound("PERSON_NOT_FOUND", f"{resident.masked} is not insured here")
            record = replace(record, person_id=person.person_id)
            tx.add_filings([record])
        return record

    def revoke(self, command: RevokeFiling) -> FilingRecord:
        resident = parse_id_number(command.id_number)
        today = local_date(self.clock())
        with self.store.write() as tx:
            filing = tx.filing(command.filing_id)
            person = tx.person_by_id_number(resident.number)
            if filing is None or person is None or filing.person_id != person.person_id:
                raise NotFound("FILING_NOT_FOUND", "no such filing for this person")
            if filing.revoked_on is None:
                tx.revoke_filing(filing.filing_id, today)
                filing = replace(filing, revoked_on=today)
        return filing

    def filings(self, id_number: str) -> list[FilingRecord]:
        resident = parse_id_number(id_number)
        with self.store.read() as tx:
            person = tx.person_by_id_number(resident.number)
            if person is None:
                raise NotFound("PERSON_NOT_FOUND", f"{resident.masked} is not insured here")
            return tx.filings_of(person.person_id)

    # --- helpers --------------------------------------------------------------------------
    def _insured(self, tx: NodeTx, pseudonym: str) -> PersonRecord:
        person = tx.person_by_pseudonym(pseudonym)
        if person is None:
            raise NotFound("PERSON_NOT_FOUND", f"not insured in {self.region}")
        return person

    def _split(
        self, tx: NodeTx, person: PersonRecord, request: CommitRequest, visit_region: str
    ) -> tuple[Any, Policy, FilingCategory]:
        policy = self.policies.get((person.insutype, request.med_type.value, request.level))
        if policy is None:
            raise Refused("NO_POLICY", f"no policy for {person.insutype}/{request.med_type.value}")
        accumulated = tx.accumulator(
            person.person_id, request.settled_on.year, policy.med_type.value
        )
        state = PersonState(
            deductible_used=accumulated.deductible_used,
            fund_paid=accumulated.fund_paid,
            account_balance=person.account_balance,
            admissions=accumulated.admissions,
        )
        filings = [as_filing(f) for f in tx.filings_of(person.person_id)]
        candidates = visit_categories(filings, visit_region, request.settled_on, request.emergency)
        category = best_category(policy, candidates)
        split = compute_split(request.pieces, policy, state, category, request.use_account)
        return split, policy, category

    def _repeat(self, record: HomeSettlementRecord, digest: str) -> dict[str, Any]:
        """A commit for an id the sender used before: same content gives the same answer."""
        if record.status is HomeStatus.ABORTED:
            raise Conflict("SETTLEMENT_VOIDED", "this settlement id was voided by recovery")
        if record.content_hash != digest:
            raise Conflict("ID_REUSED", "this settlement id was used with different content")
        if record.status is HomeStatus.REFUSED:
            raise Refused(str(record.error_code), "refused when first settled")
        return self._state(record)

    @staticmethod
    def _state(record: HomeSettlementRecord) -> dict[str, Any]:
        return {
            "status": record.status.value,
            "split": json.loads(record.split) if record.split else None,
            "error_code": record.error_code,
            # The home's commit time is the settlement time both sides report.
            "committed_at": record.committed_at.isoformat() if record.committed_at else None,
            "cancelled_at": record.cancelled_at.isoformat() if record.cancelled_at else None,
        }


def _own_institution(request: CommitRequest, visit_region: str) -> None:
    """A region settles only for its own institutions (their codes carry its region code)."""
    if institution_region(request.institution_code) != visit_region:
        raise Forbidden(
            "INSTITUTION_MISMATCH", f"{request.institution_code} is not the sender's institution"
        )


def _postings(record: HomeSettlementRecord, event: EventKind) -> list[Transfer]:
    assert record.person_id is not None
    return home_postings(
        record.settlement_id,
        event,
        record.visit_region,
        record.person_id,
        record.hifp_pay or 0,
        record.acct_pay or 0,
    )
