"""Hospitals and residents acting at random, and what each hospital was told.

A hospital (HIS) behaves as integrators are told to: it keeps every settlement id it used,
retries an id whose answer it did not get (timeout, 202/UNKNOWN, lost answer) with the same
content, asks the status, and cancels some settlements. What it was finally told is what the
invariants hold the network to.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from tongban.demo.sample_bills import sample_bill
from tongban.demo.sample_catalogue import regional_catalogue
from tongban.domain.catalogue import BillLine, CatalogueItem
from tongban.domain.filing import FilingKind
from tongban.domain.policy import MedType
from tongban.errors import TongbanError
from tongban.faultsim.faults import NodeCrash
from tongban.faultsim.world import REGIONS, Cast, Person, SimWorld
from tongban.service_layer.commands import (
    FileRecord,
    PreviewBill,
    RegisterVisit,
    RevokeFiling,
    SettleBill,
)
from tongban.service_layer.node import NodeService
from tongban.service_layer.records import VisitStatus
from tongban.service_layer.views import SettlementView

FINAL = {VisitStatus.SETTLED, VisitStatus.CANCELLED, VisitStatus.REFUSED, VisitStatus.VOIDED}
OPERATIONS = {  # operation -> weight
    "register": 8,
    "settle": 14,
    "retry": 8,
    "cancel": 4,
    "status": 4,
    "preview": 3,
    "file": 2,
    "revoke": 1,
    "recover": 5,
    "hub_down": 1,
}


@dataclass
class Visit:
    visit_id: str
    region: str
    institution: str
    person: Person
    med_type: MedType


@dataclass
class Bill:
    """One settlement id as its hospital knows it."""

    settlement_id: str
    visit: Visit
    lines: tuple[BillLine, ...]
    use_account: bool
    told: VisitStatus | None = None  # the last final status the hospital received
    told_amounts: tuple[int, int, int] | None = None  # (hifp, acct, cash) when told SETTLED
    told_code: str | None = None
    cancel_asked: bool = False

    @property
    def in_doubt(self) -> bool:
        return self.told is None or (self.cancel_asked and self.told is VisitStatus.SETTLED)


class Workload:
    def __init__(self, world: SimWorld, cast: Cast, rng: random.Random, seed: int) -> None:
        self.world = world
        self.cast = cast
        self.rng = rng
        self.seed = seed
        self.visits: list[Visit] = []
        self.bills: list[Bill] = []
        self.filings: list[tuple[Person, str]] = []
        self.trace: list[str] = []
        self._catalogues: dict[str, list[CatalogueItem]] = {
            r: sorted(regional_catalogue(r), key=lambda i: i.code) for r in REGIONS
        }

    # --- one step -----------------------------------------------------------------------------
    def step(self) -> None:
        names = list(OPERATIONS)
        operation = self.rng.choices(names, weights=[OPERATIONS[n] for n in names])[0]
        handler: Callable[[], str] = getattr(self, f"_{operation}")
        self.trace.append(f"{self.world.transport.step} {operation} {handler()}")

    def _call(self, region: str, action: Callable[[NodeService], object]) -> object:
        """Call a node as its HIS would: nothing if it is down, no answer if it crashes."""
        node = self.world.node(region)
        if node is None:
            return "down"
        try:
            result = action(node)
        except NodeCrash as crash:
            self.world.crashed(crash)
            return "crashed"
        except TongbanError as exc:
            return exc
        if self.world.plan.his_answer_lost():
            return "lost"
        return result

    # --- hospitals ----------------------------------------------------------------------------
    def _register(self) -> str:
        person = self.rng.choice(self.cast.people)
        region = self.rng.choice([r for r in REGIONS if r != person.home_region])
        institution = self.rng.choice(self.cast.hospitals[region])
        med_type = MedType.INPATIENT if self.rng.random() < 0.15 else MedType.OUTPATIENT
        command = RegisterVisit(
            institution, person.id_number, med_type.value, self.rng.random() < 0.1
        )
        out = self._call(region, lambda n: n.visit.register(command, institution))
        visit_id = getattr(out, "visit_id", None)
        if visit_id is not None:
            self.visits.append(Visit(visit_id, region, institution, person, med_type))
        return _outcome(out)

    def _settle(self) -> str:
        if not self.visits:
            return "no visit"
        visit = self.rng.choice(self.visits)
        mean = 900_000 if visit.med_type is MedType.INPATIENT else 25_000
        lines = sample_bill(self._catalogues[visit.region], visit.med_type, self.rng, mean)
        if self.rng.random() < 0.05:  # a HIS bug: a line the node must refuse as bad input
            lines.append(BillLine("NOT-IN-ANY-CATALOGUE", Decimal("-1"), 100))
        sid = f"sim{self.seed}-{len(self.bills)}"
        bill = Bill(sid, visit, tuple(lines), self.rng.random() < 0.8)
        self.bills.append(bill)
        return f"{sid} {self.resend(bill)}"

    def _retry(self) -> str:
        doubtful = [b for b in self.bills if b.told is None]
        if not doubtful:
            return "nothing in doubt"
        bill = self.rng.choice(doubtful)
        return f"{bill.settlement_id} {self.resend(bill)}"

    def resend(self, bill: Bill) -> str:
        visit = bill.visit
        command = SettleBill(bill.settlement_id, visit.visit_id, bill.lines, bill.use_account)
        out = self._call(visit.region, lambda n: n.visit.settle(command, visit.institution))
        self._learn(bill, out)
        return _outcome(out)

    def _cancel(self) -> str:
        settled = [b for b in self.bills if b.told is VisitStatus.SETTLED]
        if not settled:
            return "nothing settled"
        bill = self.rng.choice(settled)
        bill.cancel_asked = True
        visit = bill.visit
        out = self._call(
            visit.region, lambda n: n.visit.cancel(bill.settlement_id, visit.institution)
        )
        self._learn(bill, out)
        return f"{bill.settlement_id} {_outcome(out)}"

    def _status(self) -> str:
        asked = [b for b in self.bills if b.in_doubt]
        if not asked:
            return "nothing in doubt"
        bill = self.rng.choice(asked)
        return f"{bill.settlement_id} {self.ask_status(bill)}"

    def ask_status(self, bill: Bill) -> str:
        visit = bill.visit
        out = self._call(
            visit.region, lambda n: n.visit.status(bill.settlement_id, visit.institution)
        )
        self._learn(bill, out)
        return _outcome(out)

    def _learn(self, bill: Bill, out: object) -> None:
        if isinstance(out, SettlementView) and out.status in FINAL:
            bill.told = out.status
            if out.status is VisitStatus.SETTLED and out.split:
                split = out.split
                bill.told_amounts = (split["hifp_pay"], split["acct_pay"], split["psn_cash_pay"])
        elif isinstance(out, TongbanError) and bill.told is None:
            if out.code == "SETTLEMENT_VOIDED":
                bill.told = VisitStatus.VOIDED
            elif out.status in (409, 422) and out.code not in ("NOT_SETTLED",):
                # Refused: by the home region (kept as REFUSED) or as bad input (nothing kept).
                bill.told, bill.told_code = VisitStatus.REFUSED, out.code

    def _preview(self) -> str:
        if not self.visits:
            return "no visit"
        visit = self.rng.choice(self.visits)
        lines = sample_bill(self._catalogues[visit.region], visit.med_type, self.rng, 25_000)
        command = PreviewBill(visit.visit_id, tuple(lines), True)
        return _outcome(
            self._call(visit.region, lambda n: n.visit.preview(command, visit.institution))
        )

    # --- residents ----------------------------------------------------------------------------
    def _file(self) -> str:
        person = self.rng.choice(self.cast.people)
        target = self.rng.choice([r for r in REGIONS if r != person.home_region])
        kind = self.rng.choice([FilingKind.OTHER, FilingKind.REFERRAL, FilingKind.EMERGENCY])
        command = FileRecord(person.id_number, kind.value, target, None, None, True)
        out = self._call(person.home_region, lambda n: n.home.file(command))
        filing_id = getattr(out, "filing_id", None)
        if filing_id is not None:
            self.filings.append((person, filing_id))
        return _outcome(out)

    def _revoke(self) -> str:
        if not self.filings:
            return "no filing"
        person, filing_id = self.rng.choice(self.filings)
        command = RevokeFiling(person.id_number, filing_id)
        return _outcome(self._call(person.home_region, lambda n: n.home.revoke(command)))

    # --- operations ---------------------------------------------------------------------------
    def _recover(self) -> str:
        region = self.rng.choice(REGIONS)
        out = self._call(region, lambda n: n.visit.recover())
        return f"{region} {_outcome(out)}"

    def _hub_down(self) -> str:
        if self.world.hub_back_at is not None:
            return "already down"
        self.world.plan.injected["hub_down"] += 1
        self.world.hub_down(self.rng.randint(2, 15))
        return "hub down"


def _outcome(out: object) -> str:
    if isinstance(out, TongbanError):
        return out.code
    if isinstance(out, SettlementView):
        return out.status.value
    if isinstance(out, str):
        return out
    return "ok"
