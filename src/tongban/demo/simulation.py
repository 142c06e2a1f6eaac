"""A simulated day of cross-region traffic, driven through the same services a HIS calls.

Among it: Jinhua's 3,364 outpatient visits, about 70% of them in Shanghai with an average
bill near 235 yuan (the field reports' 790,000 yuan over 3,364 swipes), plus flows among other
cities, some inpatient stays, some cancels and the refusals a missing filing brings.
Settlement ids derive from the seed and the day, so re-running the same day changes nothing.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from tongban.bootstrap import EmbeddedNetwork
from tongban.domain.catalogue import CatalogueItem
from tongban.domain.policy import MedType
from tongban.domain.regions import yrd_regions
from tongban.errors import NotFound, TongbanError
from tongban.service_layer.commands import PreviewBill, RegisterVisit, SettleBill
from tongban.service_layer.records import VisitStatus

from .network import HANGZHOU, JINHUA, SHANGHAI, population
from .sample_bills import sample_bill
from .sample_institutions import sample_institutions
from .sample_people import sample_people

JINHUA_VISITS = 3364  # outpatient swipes reported for Jinhua insured
JINHUA_TO_SHANGHAI = 0.70
OUTPATIENT_MEAN_FEN = 23_500  # ≈ 790,000 yuan / 3,364 visits
INPATIENT_MEAN_FEN = 1_500_000
OTHER_VISITS = 1200
CANCEL_RATE = 0.02
PREVIEW_RATE = 0.10
HUBS = (SHANGHAI, HANGZHOU, "320100", "340100", "320500")  # where patients travel most


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    settlement_id: str
    home: str
    visit: str
    med_type: MedType
    emergency: bool
    person_index: int
    account_holder: bool  # Jinhua's reported swipes are by insured with a personal account
    preview: bool
    cancel: bool
    bill_seed: int


def plan_day(seed: int, day: date, scale: float = 1.0) -> list[PlannedVisit]:
    """The day's visits; ``scale`` < 1 keeps that fraction of the traffic (a quick look)."""
    rng = random.Random(f"day/{seed}/{day.isoformat()}")
    codes = [r.code for r in yrd_regions()]
    others = [c for c in codes if c not in (JINHUA, SHANGHAI)]
    plan: list[PlannedVisit] = []

    def add(home: str, visit: str, med_type: MedType, account_holder: bool = False) -> None:
        n = len(plan)
        plan.append(
            PlannedVisit(
                settlement_id=f"demo-{day:%Y%m%d}-{seed}-{n:06d}",
                home=home,
                visit=visit,
                med_type=med_type,
                emergency=rng.random() < 0.04,
                person_index=rng.randrange(population(home)),
                account_holder=account_holder,
                preview=rng.random() < PREVIEW_RATE,
                cancel=rng.random() < CANCEL_RATE,
                bill_seed=rng.getrandbits(32),
            )
        )

    for _ in range(round(JINHUA_VISITS * scale)):
        visit = SHANGHAI if rng.random() < JINHUA_TO_SHANGHAI else rng.choice(others)
        add(JINHUA, visit, MedType.OUTPATIENT, account_holder=True)
    for _ in range(round(OTHER_VISITS * scale)):
        home = rng.choice(codes)
        visit = rng.choice(HUBS) if rng.random() < 0.6 else rng.choice(codes)
        if visit == home:
            visit = SHANGHAI if home != SHANGHAI else HANGZHOU
        add(home, visit, MedType.INPATIENT if rng.random() < 0.05 else MedType.OUTPATIENT)
    return plan


@dataclass
class DayResult:
    outcomes: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


class Simulator:
    def __init__(self, network: EmbeddedNetwork, keys: dict[str, str], seed: int) -> None:
        self.network = network
        self.keys = keys
        self.seed = seed
        self._people: dict[str, list[str]] = {}
        self._account_holders: dict[str, list[str]] = {}
        self._hospitals: dict[str, list[tuple[str, int]]] = {}
        self._catalogues: dict[str, tuple[CatalogueItem, ...]] = {}
        for code, runtime in network.nodes.items():
            with runtime.store.read() as tx:
                seeded = json.loads(tx.meta("seeded") or "{}")
            people = sample_people(code, population(code), int(seeded.get("seed", seed)))
            self._people[code] = [p.id_number for p in people]
            self._account_holders[code] = [p.id_number for p in people if p.insutype == "310"]
            self._hospitals[code] = [
                (i.code, i.level) for i in sample_institutions(code) if i.enabled
            ]

    def run(
        self,
        plan: list[PlannedVisit],
        on_done: Callable[[str], None] | None = None,
        workers: int = 6,
    ) -> DayResult:
        outcomes: Counter[str] = Counter()

        def one(visit: PlannedVisit) -> str:
            try:
                outcome = self._visit(visit)
            except TongbanError as exc:
                outcome = f"refused:{exc.code}"
            if on_done:
                on_done(outcome)
            return outcome

        # Different routes touch different databases, so a few threads overlap their I/O.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(one, plan):
                outcomes[outcome] += 1
        return DayResult(outcomes)

    def _catalogue(self, region: str) -> tuple[CatalogueItem, ...]:
        items = self._catalogues.get(region)
        if items is None:  # a tuple, so sample_bill can reuse its grouping across bills
            items = self._catalogues[region] = tuple(self.network.node(region).catalogue.values())
        return items

    def _visit(self, planned: PlannedVisit) -> str:
        node = self.network.node(planned.visit)
        rng = random.Random(planned.bill_seed)
        hospitals = self._hospitals[planned.visit]
        # Most patients go to big hospitals: weight by level.
        code, _level = rng.choices(hospitals, weights=[lv * lv for _, lv in hospitals])[0]
        try:
            view = node.visit.status(planned.settlement_id, code)
            return "already:" + view.status.value
        except NotFound:
            pass
        pool = (self._account_holders if planned.account_holder else self._people)[planned.home]
        id_number = pool[planned.person_index % len(pool)]
        visit = node.visit.register(
            RegisterVisit(code, id_number, planned.med_type.value, planned.emergency), code
        )
        mean = OUTPATIENT_MEAN_FEN if planned.med_type is MedType.OUTPATIENT else INPATIENT_MEAN_FEN
        lines = tuple(sample_bill(self._catalogue(planned.visit), planned.med_type, rng, mean))
        if planned.preview:
            node.visit.preview(PreviewBill(visit.visit_id, lines, True), code)
        settled = node.visit.settle(
            SettleBill(planned.settlement_id, visit.visit_id, lines, True), code
        )
        if planned.cancel and settled.status is VisitStatus.SETTLED:
            settled = node.visit.cancel(planned.settlement_id, code)
        return settled.status.value
