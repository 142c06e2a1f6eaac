"""A node's side of clearing: period reports to the hub, statements, and the clearing postings.

Only the hub may ask for these (the exchange has verified the sender). Reports are read-only;
a statement is checked against the node's own records and confirmed or disputed; when the hub
says a confirmed period is closed, the node books the clearing in its ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tongban.canonical import canonical_json
from tongban.domain import ledger as acc
from tongban.domain.directory import HUB
from tongban.domain.ledger import EventKind, Transfer
from tongban.domain.statement import statement_problems
from tongban.errors import Conflict, Forbidden, InvalidInput, MessageRejected, NotFound
from tongban.service_layer import wire
from tongban.service_layer.ports import Clock, Message, NodeStore

MAX_PAGE = 20_000
SIDES = ("visit", "home")


def _moment(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("BAD_MESSAGE", f"{what} is not an ISO moment") from None
    if moment.tzinfo is None:
        raise InvalidInput("BAD_MESSAGE", f"{what} needs a time zone")
    return moment


class BackOffice:
    def __init__(
        self,
        region: str,
        store: NodeStore,
        clock: Clock,
        hub_signed: Callable[[bytes, str], bool],
    ) -> None:
        self.region = region
        self.store = store
        self.clock = clock
        self._hub_signed = hub_signed

    def handle(self, message: Message) -> dict[str, Any]:
        if message.sender != HUB:
            raise Forbidden("HUB_ONLY", f"only the hub may send {message.kind!r}")
        handler = {
            "report": self.report,
            "report.recheck": self.recheck,
            "statement": self.statement,
            "period.closed": self.period_closed,
        }[message.kind]
        return handler(message.body)

    # --- period reports -------------------------------------------------------------------
    def report(self, body: dict[str, Any]) -> dict[str, Any]:
        """One page of this node's events in a window, as visit or as home region."""
        side = body.get("side")
        if side not in SIDES:
            raise InvalidInput("BAD_MESSAGE", "side is visit or home")
        try:
            event = EventKind(str(body.get("event")))
            limit = int(body.get("limit", 5000))
        except (ValueError, TypeError):
            raise InvalidInput("BAD_MESSAGE", "event is settle or cancel; limit a number") from None
        until = _moment(body.get("until"), "until")
        if until is None or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("BAD_MESSAGE", f"until is required; 1 <= limit <= {MAX_PAGE}")
        since = _moment(body.get("since"), "since")
        with self.store.read() as tx:
            events = tx.settlement_events(
                side, self.region, event, since, until, str(body.get("after", "")), limit
            )
        return {
            "events": [wire.event_to_json(e) for e in events],
            "next": events[-1].settlement_id if len(events) == limit else None,
        }

    def recheck(self, body: dict[str, Any]) -> dict[str, Any]:
        """This node's current view of given events (exceptions the hub holds open)."""
        side, keys = body.get("side"), body.get("keys")
        if side not in SIDES or not isinstance(keys, list) or len(keys) > MAX_PAGE:
            raise InvalidInput("BAD_MESSAGE", "side and a list of [settlement_id, event] keys")
        pairs = [(str(k[0]), str(k[1])) for k in keys if isinstance(k, list) and len(k) == 2]
        with self.store.read() as tx:
            events = tx.events_of(str(side), self.region, pairs)
        return {"events": [wire.event_to_json(e) for e in events]}

    # --- statements -----------------------------------------------------------------------
    def statement(self, body: dict[str, Any]) -> dict[str, Any]:
        statement, digest, signature = (
            body.get("statement"),
            body.get("digest"),
            body.get("signature"),
        )
        if not isinstance(statement, dict) or not isinstance(signature, str):
            raise InvalidInput("BAD_MESSAGE", "statement, digest and signature are required")
        data = canonical_json(statement)
        if wire.content_hash(statement) != digest or not self._hub_signed(data, signature):
            raise MessageRejected("BAD_STATEMENT", "the statement is not signed by the hub")
        window = statement.get("window") or {}
        since, until = _moment(window.get("from"), "from"), _moment(window.get("to"), "to")
        assert until is not None
        with self.store.read() as tx:
            own = [
                e
                for side in SIDES
                for kind in EventKind
                for e in self._all_events(tx, side, kind, since, until)
            ]
        problems = statement_problems(statement, self.region, own)
        answer = "DISPUTED" if problems else "CONFIRMED"
        values = {
            "period": statement["period"],
            "digest": digest,
            "body": json.dumps(statement, ensure_ascii=False),
            "signature": signature,
            "answer": answer,
            "reason": "; ".join(problems) or None,
            "answered_at": self.clock(),
        }
        with self.store.write() as tx:
            earlier = tx.statement_answer(statement["period"])
            if earlier is not None and earlier["digest"] == digest:
                return {"answer": earlier["answer"], "reason": earlier["reason"]}
            if earlier is not None and _closed(tx, statement["period"]):
                raise Conflict("PERIOD_CLOSED", f"{statement['period']} is closed here")
            tx.replace_statement_answer(values)
        return {"answer": answer, "reason": values["reason"]}

    def _all_events(self, tx: Any, side: str, kind: EventKind, since: Any, until: Any) -> list[Any]:
        out, after = [], ""
        while True:
            page = tx.settlement_events(side, self.region, kind, since, until, after, MAX_PAGE)
            out.extend(page)
            if len(page) < MAX_PAGE:
                return out
            after = page[-1].settlement_id

    def period_closed(self, body: dict[str, Any]) -> dict[str, Any]:
        """The hub closed a period this node confirmed: book the clearing (idempotent)."""
        period, digest = str(body.get("period")), body.get("digest")
        with self.store.write() as tx:
            answer = tx.statement_answer(period)
            if answer is None or answer["digest"] != digest:
                raise NotFound("STATEMENT_NOT_FOUND", f"no statement {digest} for {period} here")
            if answer["answer"] != "CONFIRMED":
                raise Conflict("NOT_CONFIRMED", f"this node disputed {period}")
            posted = tx.post(clearing_postings(json.loads(answer["body"])), self.clock())
        return {"posted": posted}


def _closed(tx: Any, period: str) -> bool:
    """A period is closed at a node once its clearing is booked."""
    return bool(tx.ledger.history(ref=f"clearing:{period}", limit=1))


def clearing_postings(statement: dict[str, Any]) -> list[Transfer]:
    """The node's clearing: receivables and payables settled through the reserve at the hub."""
    period, ref = statement["period"], f"clearing:{statement['period']}"
    amounts: dict[str, int] = {}  # account -> debit-positive amount moved against CLEARING
    for line in statement["as_visit"]:
        key = acc.due_from_home(line["home_region"])
        amounts[key] = amounts.get(key, 0) - line["amount"]
    for line in statement["as_home"]:
        key = acc.due_to_visit(line["visit_region"])
        amounts[key] = amounts.get(key, 0) + line["amount"]
    for c in statement["carried"]:
        if c["visit_region"] == statement["region"]:
            key = acc.due_from_home(c["home_region"])
            amounts[key] = amounts.get(key, 0) - c["amount"]
        else:
            key = acc.due_to_visit(c["visit_region"])
            amounts[key] = amounts.get(key, 0) + c["amount"]
    amounts[acc.RESERVE_AT_HUB] = statement["net"]
    transfers = []
    for account, amount in sorted(amounts.items()):
        if amount == 0:
            continue
        debit, credit = (account, acc.CLEARING) if amount > 0 else (acc.CLEARING, account)
        transfers.append(
            Transfer(f"clr:{period}:{account}", debit, credit, abs(amount), "clearing", ref)
        )
    return transfers
