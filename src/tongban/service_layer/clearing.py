"""The hub's monthly clearing (清算): collect both views, match, net, state, close.

1. Every node sends its period report twice, as visit and as home region (signed answers to
   the hub's request), for the period's window of event moments.
2. The columnar engine matches the two views; unequal or one-sided events are exceptions, held
   out. Exceptions of earlier periods are asked about again: if both sides now agree (the
   settlement was recovered), or an operator resolved them, they are cleared in this period.
3. Obligations and net positions (Σ = 0, checked); one statement per region, signed.
4. Each node checks its statement against its own records and confirms or disputes. When all
   have confirmed, the period is closed: reserves move in the hub's ledger and the nodes book
   the clearing in theirs. A closed period never changes; later events fall in the next window.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tongban.canonical import canonical_json
from tongban.domain import ledger as acc
from tongban.domain.clearing import (
    MatchException,
    MatchResult,
    Period,
    ReserveAlert,
    SettlementEvent,
    match_events,
    merge_obligations,
    net_positions,
    reserve_alerts,
    window_end,
)
from tongban.domain.ledger import Balance, EventKind, Transfer
from tongban.domain.statement import CarriedItem, build_statement
from tongban.errors import Conflict, InvalidInput, NotFound, TongbanError, Unavailable
from tongban.service_layer import wire
from tongban.service_layer.clearing_ports import (
    ClearingStorePort,
    ClearingSummary,
    Key,
    PeriodRun,
    Progress,
)
from tongban.service_layer.ports import Caller, Clock

SIDES = ("visit", "home")
RESERVE_ALERT_MONTHS = "reserve_alert_months"  # hub setting: alert below this many months
PAGE = 20_000


class ClearingHub:
    def __init__(
        self,
        store: ClearingStorePort,
        caller: Caller,
        regions: Callable[[], list[str]],
        match_period: Callable[[str], MatchResult],
        sign: Callable[[bytes], str],
        clock: Clock,
        threshold_months: Decimal = Decimal(2),
    ) -> None:
        self.store = store
        self.caller = caller
        self.regions = regions
        self.match_period = match_period
        self._sign = sign
        self.clock = clock
        self.threshold_months = threshold_months

    # --- the run ---------------------------------------------------------------------------
    def clear(self, period_text: str, progress: Progress | None = None) -> ClearingSummary:
        period = Period.parse(period_text)
        p, now = str(period), self.clock()
        if now < period.starts_at:
            raise InvalidInput("PERIOD_NOT_STARTED", f"{p} has not begun")
        earlier = self._check_order(p)
        window_from = earlier.window_to if earlier else None
        window_to = window_end(period, now)
        still_pending = [x for x in self.store.exceptions(status="OPEN") if x.found_in < p]
        held = {x.key for x in still_pending}
        regions = self.regions()

        self.store.forget_reports(p)
        unreachable: list[str] = []
        for done, region in enumerate(regions):
            if progress:
                progress("reports", done, len(regions))
            try:
                for side in SIDES:
                    events = [
                        e
                        for e in self._pull(region, side, window_from, window_to)
                        if e.key not in held
                    ]
                    digest = wire.content_hash([wire.event_to_json(e) for e in events])
                    self.store.store_report(p, region, side, events, digest, self.clock())
            except TongbanError:
                unreachable.append(region)
        if unreachable:
            raise Unavailable(
                "REPORTS_MISSING",
                f"no period report from {', '.join(unreachable)}: nothing was cleared;"
                " run the clearing again when they answer",
            )
        if progress:
            progress("matching", 0, 1)
        window = self.match_period(p)
        matched_later, withdrawn, still_open = self._recheck(still_pending)
        resolved = [x for x in self.store.exceptions(status="RESOLVED") if x.cleared_in is None]
        carried = [_carried(e, "MATCHED_LATER") for e in matched_later] + [
            CarriedItem(
                x.visit_region,
                x.settlement_id,
                x.event,
                str(x.home_region),
                str(x.resolution),
                x.medfee_sumamt,
                x.hifp_pay,
                x.acct_pay,
            )
            for x in resolved
            if x.home_region is not None
        ]
        obligations = merge_obligations(window.obligations, [c.as_obligation() for c in carried])
        net_positions(obligations)  # raises if Σ ≠ 0: never issue statements that do not net
        issued_at = now.isoformat()
        span = (window_from.isoformat() if window_from else None, window_to.isoformat())
        statements = []
        for region in regions:
            body = build_statement(
                p, region, span, issued_at, window.obligations, carried, window.exceptions
            )
            statements.append(
                {
                    "region": region,
                    "net": body["net"],
                    "body": canonical_json(body).decode(),
                    "digest": wire.content_hash(body),
                    "signature": self._sign(canonical_json(body)),
                }
            )
        run = PeriodRun(p, "CLEARED", window_from, window_to, window.matched, now)
        self.store.save_clearing(
            run,
            obligations,
            window.exceptions,
            matched_later,
            still_open,
            [x.key for x in resolved] + withdrawn,
            statements,
        )
        if progress:
            progress("statements", 0, 1)
        self.deliver(p)
        return self.summary(p)

    def _check_order(self, p: str) -> Any:
        periods = self.store.periods()
        mine = next((r for r in periods if r.period == p), None)
        if mine is not None and mine.status == "CLOSED":
            # A crash may have come between closing and telling the nodes: tell them again
            # (they book the clearing once, by transfer id).
            missed = self.notify_closed(p)
            raise Conflict(
                "PERIOD_CLOSED",
                f"{p} is closed: its statements cannot change"
                + (f" (still not told: {', '.join(missed)})" if missed else ""),
            )
        later = [r.period for r in periods if r.period > p]
        if later:
            raise Conflict("PERIOD_ORDER", f"{later[0]} is already cleared; periods go in order")
        earlier = [r for r in periods if r.period < p]
        if earlier and earlier[-1].status != "CLOSED":
            raise Conflict(
                "PREVIOUS_PERIOD_OPEN",
                f"{earlier[-1].period} awaits confirmation: clear it again or resolve disputes",
            )
        return earlier[-1] if earlier else None

    def _pull(
        self, region: str, side: str, since: datetime | None, until: datetime
    ) -> list[SettlementEvent]:
        events: list[SettlementEvent] = []
        for kind in EventKind:
            after = ""
            while True:
                page = self.caller.call(
                    region,
                    "report",
                    {
                        "side": side,
                        "event": kind.value,
                        "after": after,
                        "limit": PAGE,
                        "since": since.isoformat() if since else None,
                        "until": until.isoformat(),
                    },
                )
                got = [wire.event_from_json(e) for e in page.get("events", [])]
                for e in got:  # a node reports only its own side of the traffic
                    own = e.visit_region if side == "visit" else e.home_region
                    if own != region:
                        raise InvalidInput("BAD_REPORT", f"{region} reported {e.key} of {own}")
                events.extend(got)
                if not page.get("next"):
                    break
                after = str(page["next"])
        return events

    def _recheck(
        self, pending: list[Any]
    ) -> tuple[list[SettlementEvent], list[Key], list[MatchException]]:
        """Ask both sides again about open exceptions of earlier periods."""
        asks: dict[tuple[str, str], list[list[str]]] = {}
        for x in pending:
            visit, home = x.parties
            asks.setdefault((visit, "visit"), []).append([x.settlement_id, x.event])
            asks.setdefault((home, "home"), []).append([x.settlement_id, x.event])
        views: dict[str, list[SettlementEvent]] = {"visit": [], "home": []}
        silent: set[tuple[str, str]] = set()
        for (region, side), keys in sorted(asks.items()):
            try:
                got = self.caller.call(region, "report.recheck", {"side": side, "keys": keys})
                views[side].extend(wire.event_from_json(e) for e in got["events"])
            except TongbanError:
                silent.add((region, side))
        wanted = {x.key for x in pending}
        visit = [e for e in views["visit"] if e.key in wanted]
        home = [e for e in views["home"] if e.key in wanted]
        again = match_events(visit, home)
        unmatched = {x.key: x for x in again.exceptions}
        by_key = {e.key: e for e in visit}
        seen = {e.key for e in visit} | {e.key for e in home}
        matched_later, withdrawn, still_open = [], [], []
        for x in pending:
            v, h = x.parties
            if (v, "visit") in silent or (h, "home") in silent:
                continue  # cannot tell yet: stays open as it was
            if x.key in unmatched:
                still_open.append(unmatched[x.key])
            elif x.key in seen:
                matched_later.append(by_key[x.key])
            else:
                withdrawn.append(x.key)  # neither side reports it any more: nothing to clear
        return matched_later, withdrawn, still_open

    # --- statements, confirmations, closing --------------------------------------------------
    def deliver(self, p: str) -> dict[str, str]:
        """Send each unanswered statement to its node; close the period once all confirmed."""
        for s in self.store.statements(p):
            if s["status"] == "CONFIRMED":
                continue
            try:
                answer = self.caller.call(
                    s["region"],
                    "statement",
                    {
                        "statement": json.loads(s["body"]),
                        "digest": s["digest"],
                        "signature": s["signature"],
                    },
                )
            except TongbanError:
                continue  # stays ISSUED: delivered again on the next run
            self.store.record_answer(
                p,
                s["region"],
                s["digest"],
                str(answer["answer"]),
                answer.get("reason"),
                self.clock(),
            )
        answers = {s["region"]: s["status"] for s in self.store.statements(p)}
        if answers and all(a == "CONFIRMED" for a in answers.values()):
            self._close(p)
        return answers

    def _close(self, p: str) -> None:
        nets = {s["region"]: int(s["net"]) for s in self.store.statements(p)}
        if sum(nets.values()) != 0:
            raise AssertionError(f"statements of {p} net to {sum(nets.values())}")
        transit = acc.clearing_of(p)
        transfers = []
        for region, net in sorted(nets.items()):
            if net < 0:  # a net payer: its reserve is drawn
                transfers.append(
                    Transfer(f"clr:{p}:{region}", acc.reserve(region), transit, -net, "clearing", p)
                )
            elif net > 0:
                transfers.append(
                    Transfer(f"clr:{p}:{region}", transit, acc.reserve(region), net, "clearing", p)
                )
        self.store.close(p, transfers, self.clock())
        self.notify_closed(p)

    def notify_closed(self, p: str) -> list[str]:
        """Tell every node its confirmed period is closed; returns the ones that did not hear."""
        missed = []
        for s in self.store.statements(p):
            try:
                self.caller.call(s["region"], "period.closed", {"period": p, "digest": s["digest"]})
            except TongbanError:
                missed.append(s["region"])
        return missed

    # --- exceptions and reserves ------------------------------------------------------------
    def resolve(self, key: Key, accept: str, note: str) -> Any:
        """An operator explains an exception; it is cleared in the next clearing run."""
        x = self.store.exception(key)
        if x is None:
            raise NotFound("EXCEPTION_NOT_FOUND", f"no exception {key}")
        if x.status != "OPEN":
            raise Conflict("EXCEPTION_RESOLVED", f"{key} was resolved: {x.resolution}")
        if not note.strip():
            raise InvalidInput("NOTE_REQUIRED", "say why (it goes on the statements)")
        views = {"visit": x.visit_view, "home": x.home_view, "none": None}
        if accept not in views or (accept != "none" and views[accept] is None):
            raise InvalidInput(
                "BAD_RESOLUTION", f"accept visit, home or none; {accept!r} has no view"
            )
        view = views[accept]
        accepted = wire.event_from_json(view) if view else None
        resolution = {"visit": "ACCEPT_VISIT", "home": "ACCEPT_HOME"}.get(accept, "WRITTEN_OFF")
        self.store.resolve_exception(key, resolution, note.strip(), accepted, self.clock())
        return self.store.exception(key)

    def deposit(self, region: str, amount: int, transfer_id: str | None = None) -> int:
        """A region tops up its reserve (预付金) at the hub."""
        if region not in self.regions():
            raise NotFound("UNKNOWN_REGION", f"{region} is not a member")
        tid = transfer_id or f"deposit:{region}:{uuid.uuid4().hex[:12]}"
        return self.store.post(
            [Transfer(tid, acc.HUB_BANK, acc.reserve(region), amount, "deposit", region)],
            self.clock(),
        )

    def reserves(self) -> tuple[dict[str, int], list[ReserveAlert]]:
        balances = self.store.balances()
        reserves = {
            r: balances.get(acc.reserve(r), Balance(r, 0, 0)).credit_balance for r in self.regions()
        }
        paid: dict[str, list[int]] = {}
        closed = [r.period for r in self.store.periods() if r.status == "CLOSED"][-12:]
        for s in self.store.statements():
            if s["period"] in closed:
                paid.setdefault(s["region"], []).append(-int(s["net"]))
        return reserves, reserve_alerts(reserves, paid, self.threshold_months)

    def summary(self, p: str) -> ClearingSummary:
        record = self.store.period(p)
        if record is None:
            raise NotFound("PERIOD_NOT_CLEARED", f"{p} has not been cleared")
        statements = self.store.statements(p)
        reserves, alerts = self.reserves()
        obligations = self.store.obligations(p)
        return ClearingSummary(
            period=p,
            status=record.status,
            window_from=record.window_from,
            window_to=record.window_to,
            matched=record.matched_events,
            obligations=obligations,
            positions=net_positions(obligations),
            statements={s["region"]: s["status"] for s in statements},
            disputes={s["region"]: s["reason"] for s in statements if s["status"] == "DISPUTED"},
            exceptions_found=self.store.exceptions(found_in=p),
            exceptions_open=len(self.store.exceptions(status="OPEN")),
            carried=sum(1 for x in self.store.exceptions(status="RESOLVED") if x.cleared_in == p),
            reserves=reserves,
            alerts=alerts,
        )


def _carried(event: SettlementEvent, resolution: str) -> CarriedItem:
    return CarriedItem(
        event.visit_region,
        event.settlement_id,
        event.event.value,
        event.home_region,
        resolution,
        event.medfee_sumamt,
        event.hifp_pay,
        event.acct_pay,
    )
